"""The fast lane: the four requests a busy service mostly answers, as plain ASGI in front
of Litestar's router.

A customer's visit is two requests, the form page (a first visit: no cookie of this form,
no link token, nothing pre-chosen) and its submission; another system's is the JSON form
and its answers. Through Litestar each of them pays for routing, parameter parsing,
dependency injection, four middleware layers, the CSRF middleware's cookie object and a
response object: several times the handler's own work (``benchmarks/run``, one process: a
form page 3,470 req/s against a bare Litestar hello-world's 22,887).

The lane answers exactly those requests with the same services, page parts and headers,
and hands anything else to Litestar untouched: another route, a query or cookie it does
not expect, a CSRF check that fails, a token that does not verify, answers with errors, a
limit reached, a single-use form answered twice, or any exception before the answer
started (the body it read is replayed). Every error page, status and message therefore
comes from one place, the controllers, and ``tests/test_fastlane.py`` checks that both
paths answer alike. Side effects before a hand-over are the ones Litestar's path repeats
harmlessly (the client's limit is counted once per request either way).

``SURVEY_FAST_LANE=false`` turns it off.
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Awaitable, Callable
from functools import partial
from typing import NamedTuple
from urllib.parse import parse_qsl

import msgspec
from litestar import Litestar
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import Cookie
from litestar.enums import ScopeType
from litestar.middleware.csrf import CSRF_SECRET_BYTES
from litestar.types import (
    ASGIApp,
    HTTPRequestEvent,
    HTTPResponseBodyEvent,
    HTTPResponseStartEvent,
    HTTPScope,
    Receive,
    ReceiveMessage,
    Scope,
    Send,
)

from survey_service.lib import randomness
from survey_service.lib.keys import mac
from survey_service.responses.answers import coerce_form_fields
from survey_service.responses.controllers import ResponseIn
from survey_service.settings import Settings
from survey_service.surveys.abuse import HONEYPOT_FIELD
from survey_service.surveys.pages import (
    FORM_BODY_LIMIT,
    cookie_name,
    done_location,
    form_cookie,
    gone_cookie,
)
from survey_service.surveys.serving import SurveyService
from survey_service.web.context import RequestContext, request_id_of
from survey_service.web.pages import blank_form_body
from survey_service.web.security import SecurityHeaders, count_client, scope_client

__all__ = ["FastLane", "LaneRequest", "Reply"]

log = logging.getLogger("survey_service.fastlane")

Headers = list[tuple[bytes, bytes]]


class Reply(NamedTuple):
    """A whole answer: status, headers (without Content-Length) and body."""

    status: int
    headers: Headers
    body: bytes


_SLUG = r"([a-z0-9][a-z0-9-]*)"
_HTML = (b"content-type", b"text/html; charset=utf-8")
_JSON = (b"content-type", b"application/json")
_TEXT = (b"content-type", b"text/plain; charset=utf-8")  # Litestar's, on its redirects
_NO_STORE = (b"cache-control", b"no-store")
_FORM_TYPE = "application/x-www-form-urlencoded"
_ODD_COOKIE = re.compile(r'["\\%]')  # quoted or escaped values: Litestar's parser decides
_CSRF_SLOT = "csrfSLOTq7x"  # left as it is by cookie quoting
_API_BODY_LIMIT = 64 * 1024  # an answer body is a token and a few answers; larger: Litestar


class LaneRequest:
    """What the lane's handlers read of a request, parsed once and only as far as needed."""

    __slots__ = ("body", "cookies", "headers", "scope", "slug")

    def __init__(self, scope: Scope, slug: str, body: bytes) -> None:
        self.scope = scope
        self.slug = slug
        self.body = body
        self.headers: dict[bytes, str] = {}
        for name, value in scope["headers"]:
            text = value.decode("latin-1")
            seen = self.headers.get(name)
            self.headers[name] = text if seen is None else f"{seen}; {text}"
        self.cookies: dict[str, str] | None = _cookies(self.headers.get(b"cookie", ""))

    def header(self, name: bytes) -> str | None:
        """One request header (lines of the same name joined by ``; ``)."""
        return self.headers.get(name)

    def query(self) -> dict[str, str] | None:
        """The query parameters; None when a name repeats (Litestar then decides)."""
        return _pairs(self.scope["query_string"])

    def form(self) -> dict[str, str] | None:
        """The URL-encoded body; None when it is not that, or a name repeats."""
        kind = (self.header(b"content-type") or "").partition(";")[0].strip().lower()
        return _pairs(self.body) if kind == _FORM_TYPE else None


def _pairs(encoded: bytes) -> dict[str, str] | None:
    if not encoded:  # most requests: no query string
        return {}
    try:
        pairs = parse_qsl(encoded.decode(), keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        return None
    found = dict(pairs)
    return found if len(found) == len(pairs) else None


def _cookies(header: str) -> dict[str, str] | None:
    """The request's cookies; None when a value is quoted or escaped."""
    found: dict[str, str] = {}
    for part in header.split(";"):
        name, _, value = part.partition("=")
        if _ODD_COOKIE.search(value):
            return None
        if name.strip():
            found[name.strip()] = value.strip()
    return found


async def _read_body(receive: Receive, limit: int) -> tuple[bytes, bool]:
    """The request body, and whether it is whole (False: over ``limit``, or the client
    left); what was read is replayed to Litestar either way."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False
        chunk: bytes = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), True
        if size > limit:
            return b"".join(chunks), False


def _replay(body: bytes, receive: Receive, *, whole: bool) -> Receive:
    """``receive`` with ``body`` (already read) delivered first."""
    pending = True

    async def again() -> ReceiveMessage:
        nonlocal pending
        if pending:
            pending = False
            event: HTTPRequestEvent = {"type": "http.request", "body": body, "more_body": not whole}
            return event
        return await receive()

    return again


Handler = Callable[[LaneRequest], Awaitable[Reply | None]]


class _Route(NamedTuple):
    method: str
    pattern: re.Pattern[str]
    template: str
    body_limit: int
    handle: Handler
    security: Headers  # the security headers its answers get


class FastLane:
    """Plain-ASGI handlers for the common case of four routes, in front of ``app``'s own
    ASGI handler (install with :meth:`install`); everything else goes to Litestar."""

    def __init__(
        self, app: Litestar, inner: ASGIApp, context: RequestContext, headers: SecurityHeaders
    ) -> None:
        settings: Settings = app.state.settings
        csrf = app.csrf_config
        assert csrf is not None  # create_app configures it
        self.app = app
        self.inner = inner
        self.context = context
        self.headers = headers
        self.csrf = csrf
        self.client_limit = settings.submit_limit_per_ip
        self.proxies = settings.proxies
        self.secure = settings.base_url.startswith("https:")
        self.routes = [
            self._route("GET", "/s/{}", 0, self.page),
            self._route("POST", "/s/{}", FORM_BODY_LIMIT, self.submit),
            self._route("GET", "/api/v1/surveys/{}", 0, self.api_form),
            self._route("POST", "/api/v1/surveys/{}/responses", _API_BODY_LIMIT, self.api_answers),
        ]
        # Litestar's own serialisation of the CSRF cookie, made once with a placeholder.
        self._csrf_cookie = _cookie_line(csrf)
        self._csrf_key = csrf.secret.encode()

    def _route(self, method: str, path: str, body_limit: int, handle: Handler) -> _Route:
        """A lane route for ``path`` (``{}`` where the slug goes), labelled in the metrics
        and access log with the path template Litestar's router gives the same request."""
        example = path.format("any")
        template: str = self.app.asgi_router.handle_routing(example, method)[4]
        pattern = re.compile(re.escape(path).replace(re.escape("{}"), _SLUG))
        return _Route(method, pattern, template, body_limit, handle, self.headers.for_path(example))

    @classmethod
    def install(cls, app: Litestar, context: RequestContext, headers: SecurityHeaders) -> None:
        """Put the lane in front of ``app``'s router. The security headers are the lane's
        to add (``app`` has no before-send hook for them): to its own answers directly,
        and around ``send`` for everything it hands to the router."""
        app.asgi_handler = cls(app, app.asgi_handler, context, headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP and not scope.get("root_path"):
            method, path = scope["method"], scope["path"]
            for route in self.routes:
                found = route.pattern.fullmatch(path) if route.method == method else None
                if found is not None:
                    lane = partial(self._run, route, found.group(1))
                    await self.context.handle(scope, receive, send, lane)
                    return
        await self.inner(scope, receive, self.headers.wrap(send, scope))

    async def _run(
        self, route: _Route, slug: str, scope: HTTPScope, receive: Receive, send: Send
    ) -> None:
        scope["path_template"] = route.template
        body, whole = b"", True
        if route.body_limit:
            body, whole = await _read_body(receive, route.body_limit)
        reply = None
        if whole:
            try:
                reply = await route.handle(LaneRequest(scope, slug, body))
            except Exception:  # Litestar's path runs it again and answers the error
                log.debug("handed on: %s %s", scope["method"], scope["path"], exc_info=True)
        if reply is None:
            again = _replay(body, receive, whole=whole)
            await self.inner(scope, again, self.headers.wrap(send, scope))
            return
        length = (b"content-length", str(len(reply.body)).encode())
        request_id = (b"x-request-id", request_id_of(scope).encode())
        start: HTTPResponseStartEvent = {
            "type": "http.response.start",
            "status": reply.status,
            # The lane's routes never read from a replica: no X-Read-From to add.
            "headers": [*reply.headers, length, request_id, *route.security],
        }
        await send(start)
        end: HTTPResponseBodyEvent = {
            "type": "http.response.body",
            "body": reply.body,
            "more_body": False,
        }
        await send(end)

    @property
    def surveys(self) -> SurveyService:
        """The surveys service the lifespan started (read from the state's mapping: its
        attribute access costs half a microsecond a request)."""
        surveys: SurveyService = self.app.state["surveys"]
        return surveys

    async def _client_ok(self, request: LaneRequest) -> bool:
        limits = self.app.state["limits"]  # as :attr:`surveys`
        return await count_client(request.scope, limits, self.client_limit, self.proxies) is None

    def _csrf_hash(self, token: str) -> str:
        """Litestar's ``generate_csrf_hash`` (HMAC-SHA256, hex) by :func:`.lib.keys.mac`:
        no ``hmac.HMAC`` object per call, and the GIL kept."""
        return mac(self._csrf_key, token).hex()

    def new_csrf_token(self) -> str:
        """A token as Litestar's ``generate_csrf_token`` makes it: 32 random bytes in hex,
        then their HMAC."""
        token = randomness.token_hex(CSRF_SECRET_BYTES)
        return token + self._csrf_hash(token)

    def _csrf_ok(self, field: str | None, cookie: str | None) -> bool:
        """Litestar's CSRF check: the field and the cookie carry one signed token
        (compared in constant time, as Litestar does)."""
        if field is None or cookie is None or len(field) <= 64:
            return False
        signed = hmac.compare_digest(self._csrf_hash(field[:64]), field[64:])
        return signed and hmac.compare_digest(field, cookie)

    async def page(self, request: LaneRequest) -> Reply | None:
        """``GET /s/{slug}``, a first visit (as :func:`.surveys.pages.serve_form` serves it)."""
        surveys, slug = self.surveys, request.slug
        definition = surveys.survey(slug).definition
        params, cookies = request.query(), request.cookies
        if params is None or cookies is None or "t" in params or cookie_name(slug) in cookies:
            return None
        if any(q.id in params for q in definition.questions):  # answers chosen in the link
            return None
        served = await surveys.open_form(
            slug,
            params=params,
            accept_language=request.header(b"accept-language"),
            default_channel="link",
        )
        cookie = form_cookie(slug, served, secure=self.secure)
        headers = [_HTML, _NO_STORE, (b"set-cookie", cookie.encode())]
        csrf = cookies.get(self.csrf.cookie_name)
        if csrf is None:  # as Litestar's CSRF middleware: a new token, in a cookie too
            csrf = self.new_csrf_token()
            headers.append(
                (b"set-cookie", self._csrf_cookie.replace(_CSRF_SLOT.encode(), csrf.encode()))
            )
        return Reply(200, headers, blank_form_body(served.survey, served.token, csrf))

    async def submit(self, request: LaneRequest) -> Reply | None:
        """``POST /s/{slug}`` with a good CSRF token, token and answers: stored, 303."""
        surveys, slug = self.surveys, request.slug
        form, cookies = request.form(), request.cookies
        if form is None or cookies is None or request.header(self.csrf.header_name.encode()):
            return None
        if not self._csrf_ok(form.get("_csrf_token"), cookies.get(self.csrf.cookie_name)):
            return None
        surveys.survey(slug)
        if not await self._client_ok(request):
            return None
        version, claims = await surveys.read_token(slug, form.get("token", ""))
        _, created = await surveys.store(  # answers with errors: Litestar's page
            version,
            claims,
            coerce_form_fields(version.definition, form),
            flags=surveys.flags(claims, form.get(HONEYPOT_FIELD)),
            client_address=scope_client(request.scope, self.proxies),
        )
        if not created and claims.single_use:  # "already answered": the controller's page
            return None
        headers = [
            _TEXT,
            (b"location", done_location(slug, claims).encode()),
            (b"set-cookie", gone_cookie(slug).encode()),
        ]
        return Reply(303, headers, b"")

    async def api_form(self, request: LaneRequest) -> Reply | None:
        """``GET /api/v1/surveys/{slug}``: the form as JSON with its token."""
        params = request.query()
        if params is None:
            return None
        self.surveys.survey(request.slug)
        if not await self._client_ok(request):
            return None
        served = await self.surveys.open_form(
            request.slug,
            params=params,
            accept_language=request.header(b"accept-language"),
            default_channel="api",
        )
        return Reply(200, [_JSON], msgspec.json.encode(served))

    async def api_answers(self, request: LaneRequest) -> Reply | None:
        """``POST /api/v1/surveys/{slug}/responses`` with a good token and answers: 201
        (200 with the same body for a replay)."""
        data = msgspec.json.decode(request.body, type=ResponseIn)  # errors: Litestar's 400
        surveys, slug = self.surveys, request.slug
        surveys.survey(slug)
        if not await self._client_ok(request):
            return None
        version, claims = await surveys.read_token(slug, data.token)
        stored, created = await surveys.store(  # answers with errors: Litestar's 422
            version,
            claims,
            data.answers,
            flags=surveys.flags(claims),
            client_address=scope_client(request.scope, self.proxies),
        )
        return Reply(201 if created else 200, [_JSON], msgspec.json.encode(stored))


def _cookie_line(config: CSRFConfig) -> bytes:
    """The CSRF cookie's Set-Cookie value as Litestar's middleware writes it, with
    :data:`_CSRF_SLOT` where the token goes."""
    cookie = Cookie(
        key=config.cookie_name,
        value=_CSRF_SLOT,
        path=config.cookie_path,
        secure=config.cookie_secure,
        httponly=config.cookie_httponly,
        samesite=config.cookie_samesite,
        domain=config.cookie_domain,
    )
    return cookie.to_header(header="").encode()
