# Slim production image: `survey-service serve` against DATABASE_URL.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    SURVEY_HOST=0.0.0.0 \
    SURVEY_PORT=8000 \
    SURVEY_DATA_DIR=/data

WORKDIR /app
# A plain install: the wheel carries the migrations (survey_service/migrations); the survey
# definitions are read from SURVEY_FORMS_DIR.
COPY pyproject.toml README.md ./
COPY survey_service ./survey_service
COPY migrations ./migrations
RUN pip install . \
    && rm -rf survey_service migrations \
    && useradd --system --uid 10001 survey \
    && mkdir -p /data && chown survey /data
COPY forms ./forms
ENV SURVEY_FORMS_DIR=/app/forms

USER survey
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8000/health/ready', timeout=2)" || exit 1
CMD ["survey-service", "serve"]
