"""Experiments: definitions from the forms, sticky subject assignments, and results read
from the KPI rollups (never a scan of every response)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import get_args

import msgspec

from survey_service.apikeys.service import Audience
from survey_service.errors import BadParameter, NotFound
from survey_service.experiments import queries
from survey_service.experiments.assignment import NewAssignment, draw_variant
from survey_service.experiments.statistics import (
    MIN_N,
    Comparison,
    Verdict,
    compare,
    holm,
    required_n,
    sample_ratio_mismatch,
    verdict,
)
from survey_service.lib.stats import Moments
from survey_service.lib.structs import Struct
from survey_service.lib.text import one_line
from survey_service.outcomes.service import OutcomeService, SubjectOutcomes
from survey_service.reporting.columns import AGGREGATE_NAMES
from survey_service.reporting.metrics import METRICS, metric_moments
from survey_service.reporting.queries import AggregateRow, aggregate
from survey_service.reporting.service import KpiParams, ReportingService
from survey_service.surveys.catalog import SurveyVersionInfo
from survey_service.surveys.definitions import Experiment, Metric
from survey_service.surveys.serving import SurveyService
from survey_service.surveys.tokens import new_nonce

__all__ = [
    "OUTCOME_METRICS",
    "AssignmentResult",
    "ExperimentResults",
    "ExperimentService",
    "ExperimentView",
]


OUTCOME_METRICS: tuple[str, ...] = tuple(m for m in get_args(Metric) if m not in METRICS)
"""Metrics from what subjects did after their assignment (``repeat_purchase_90d`` ...)."""


def _horizon(metric: str) -> int:
    """The horizon in days of an outcome metric (``revenue_90d`` -> 90)."""
    return int(metric.rsplit("_", 1)[1].removesuffix("d"))


class VariantView(Struct):
    """A variant and its share of traffic."""

    name: str
    weight: float


class ExperimentView(Struct):
    """An experiment as defined in its survey's TOML."""

    key: str
    survey: str
    hypothesis: str
    primary_metric: Metric
    control: str
    variants: list[VariantView]
    start: dt.date | None
    end: dt.date | None


class AssignmentResult(Struct):
    """A subject's variant and the survey link that carries it."""

    experiment: str
    subject: str
    variant: str
    cluster: str | None
    created: bool
    token: str
    link: str


class MetricEstimate(Struct):
    """One metric in one variant."""

    n: int
    mean: float | None
    ci_low: float | None
    ci_high: float | None


class VariantResult(Struct):
    """A variant's traffic and its metrics."""

    variant: str
    assignments: int
    responses: int
    metrics: dict[str, MetricEstimate]


class MetricComparison(Struct):
    """A treatment against the control on one metric, with the plain verdict."""

    comparison: Comparison
    verdict: Verdict


class TreatmentResult(Struct):
    """Every metric of one treatment against the control."""

    variant: str
    metrics: dict[str, MetricComparison]


class SampleRatio(Struct):
    """Assignments against the configured weights."""

    assignments: dict[str, int]
    expected_share: dict[str, float]
    chi_square: float
    p_value: float
    mismatch: bool


class PowerEstimate(Struct):
    """Responses per variant needed to detect ``mde`` (relative) on ``metric``."""

    metric: str
    baseline: float | None
    mde: float
    required_per_variant: int | None
    smallest_arm: int
    progress: float | None


class OutcomeProgress(Struct):
    """Subjects behind an outcome metric's horizon: counted (their horizon ended) and still
    inside it (not counted yet), per variant; revenue in ``currency`` only."""

    horizon_days: int
    currency: str | None
    subjects: dict[str, int]
    still_in_horizon: dict[str, int]


class ExperimentResults(Struct):
    """Everything an analyst needs to sign off an experiment."""

    experiment: ExperimentView
    sequential: bool
    sample_ratio: SampleRatio
    variants: list[VariantResult]
    treatments: list[TreatmentResult]
    power: PowerEstimate | None
    warnings: list[str]
    outcomes: list[OutcomeProgress] = []
    """Present when the primary metric or the asked metric is an outcome metric."""


def _view(info: SurveyVersionInfo, e: Experiment) -> ExperimentView:
    return ExperimentView(
        key=e.key,
        survey=info.slug,
        hypothesis=e.hypothesis,
        primary_metric=e.primary_metric,
        control=e.control,
        variants=[VariantView(name=v.name, weight=v.weight) for v in e.variants],
        start=e.start,
        end=e.end,
    )


class ExperimentService:
    """Experiments of the served surveys."""

    def __init__(
        self,
        surveys: SurveyService,
        reporting: ReportingService,
        outcomes: OutcomeService | None = None,
    ) -> None:
        self.surveys = surveys
        self.reporting = reporting
        self.outcomes = outcomes

    def _find(self, key: Audience, experiment: str) -> tuple[SurveyVersionInfo, Experiment]:
        for slug in self.surveys.catalog.slugs():
            info = self.surveys.catalog.current(slug)
            e = info.definition.experiment if info else None
            if info and e and e.key == experiment and key.sees(slug):
                return info, e
        raise NotFound("experiment", experiment)

    def visible(self, key: Audience) -> list[ExperimentView]:
        """Every experiment of a survey the key sees."""
        views = []
        for slug in self.surveys.catalog.slugs():
            info = self.surveys.catalog.current(slug)
            if info and info.definition.experiment and key.sees(slug):
                views.append(_view(info, info.definition.experiment))
        return views

    def get(self, key: Audience, experiment: str) -> ExperimentView:
        """One experiment (404 when unknown or outside the key's surveys)."""
        return _view(*self._find(key, experiment))

    async def assign(
        self,
        key: Audience,
        experiment: str,
        subject: str,
        cluster: str | None,
        language: str | None,
    ) -> AssignmentResult:
        """The subject's variant: drawn by weight on first call, the same ever after (a
        unique key, not a read-then-write, so concurrent first calls agree)."""
        info, e = self._find(key, experiment)
        subject = subject.strip()
        if not subject or len(subject) > 200 or one_line(subject) != subject:
            raise BadParameter("subject", "1 to 200 characters on one line, no control characters")
        if cluster is not None and (not cluster.strip() or one_line(cluster) != cluster):
            raise BadParameter("cluster", "1 to 200 characters on one line, no control characters")
        variant, nonce, cluster, created = await queries.subject_variant(
            self.surveys.db, info.survey_id, e.key, subject, (draw_variant(e), new_nonce()), cluster
        )
        definition = info.definition
        claims = self.surveys.claims(
            info.version_id,
            nonce=nonce.bytes,
            variant=variant,
            channel="link",
            language=language if language in definition.languages else definition.default_language,
            metadata={},
        )
        if created:
            await self.surveys.recorder.add(NewAssignment.from_claims(info.survey_id, claims))
        return AssignmentResult(
            experiment=e.key,
            subject=subject,
            variant=variant,
            cluster=cluster,
            created=created,
            token=self.surveys.signer.sign(claims),
            link=self.surveys.link(info.slug, claims),
        )

    async def results(
        self,
        key: Audience,
        experiment: str,
        params: KpiParams,
        *,
        sequential: bool,
        mde: float | None,
        metric: str | None,
    ) -> ExperimentResults:
        """Per-variant metrics, treatment comparisons, SRM and power, from the rollups."""
        info, e = self._find(key, experiment)
        if metric is not None and metric not in (*METRICS, *OUTCOME_METRICS):
            raise BadParameter("metric", f"one of {', '.join((*METRICS, *OUTCOME_METRICS))}")
        if mde is not None and not 0 < mde < 10:
            raise BadParameter("mde", "a relative effect such as 0.05 for 5%")
        if params.start is None and e.start is not None:
            params = msgspec.structs.replace(params, start=e.start.isoformat())
        if params.end is None and e.end is not None:
            params = msgspec.structs.replace(params, end=e.end.isoformat())
        if "variant" in params.filters:
            raise BadParameter("variant", "results always cover every variant")
        query = await self.reporting.query_for(info, params)
        by_variant = msgspec.structs.replace(query, group_by=["variant"])
        rows: dict[str, AggregateRow] = {
            str(row.key["variant"]): row
            for row in await self.reporting.reads.read(lambda db: aggregate(db, by_variant))
        }
        names = [v.name for v in e.variants]
        empty = dict.fromkeys(AGGREGATE_NAMES, 0)
        moments = {
            name: metric_moments(rows[name].sums, rows[name].assignments, rows[name].answered)
            if name in rows
            else metric_moments(empty, 0, 0)
            for name in names
        }
        horizons = sorted({_horizon(m) for m in (metric, e.primary_metric) if m in OUTCOME_METRICS})
        progress = []
        for days in horizons:
            found = await self._outcomes(info, e, days)
            progress.append(_progress(found, names))
            for name in names:
                moments[name].update(_outcome_moments(found, name))
        variants = [self._variant(name, rows, moments[name]) for name in names]
        treatments = self._treatments(e, moments, sequential)
        assigned = [rows[n].assignments if n in rows else 0 for n in names]
        chi, p, mismatch = sample_ratio_mismatch(assigned, [v.weight for v in e.variants])
        total_weight = sum(v.weight for v in e.variants)
        warnings = await self._warnings(info, e, variants, mismatch)
        return ExperimentResults(
            experiment=_view(info, e),
            sequential=sequential,
            sample_ratio=SampleRatio(
                assignments=dict(zip(names, assigned, strict=True)),
                expected_share={v.name: v.weight / total_weight for v in e.variants},
                chi_square=chi,
                p_value=p,
                mismatch=mismatch,
            ),
            variants=variants,
            treatments=treatments,
            power=self._power(e, moments, metric or e.primary_metric, mde) if mde else None,
            warnings=warnings,
            outcomes=progress,
        )

    async def _outcomes(self, info: SurveyVersionInfo, e: Experiment, days: int) -> SubjectOutcomes:
        if self.outcomes is None:
            raise BadParameter("metric", "outcome metrics need the outcomes service")
        subjects = await self.reporting.reads.read(
            lambda db: queries.outcome_subjects(db, info.survey_id, e.key)
        )
        return await self.outcomes.after_assignment(subjects, days, dt.datetime.now(dt.UTC))

    @staticmethod
    def _variant(
        name: str, rows: Mapping[str, AggregateRow], m: dict[str, Moments]
    ) -> VariantResult:
        row = rows.get(name)
        estimates = {}
        for metric, moment in m.items():
            interval = moment.interval()
            estimates[metric] = MetricEstimate(
                n=moment.n,
                mean=moment.mean,
                ci_low=interval[0] if interval else None,
                ci_high=interval[1] if interval else None,
            )
        return VariantResult(
            variant=name,
            assignments=row.assignments if row else 0,
            responses=row.sums["n"] if row else 0,
            metrics=estimates,
        )

    @staticmethod
    def _treatments(
        e: Experiment, moments: dict[str, dict[str, Moments]], sequential: bool
    ) -> list[TreatmentResult]:
        treatments = [v.name for v in e.variants if v.name != e.control]
        control = moments[e.control]
        compared = {
            t: {
                metric: compare(control[metric], moments[t][metric], sequential=sequential)
                for metric in control
            }
            for t in treatments
        }
        if len(treatments) > 1 and not sequential:
            for metric in control:
                adjusted = holm([compared[t][metric].p_value for t in treatments])
                for t, p in zip(treatments, adjusted, strict=True):
                    compared[t][metric] = msgspec.structs.replace(
                        compared[t][metric], p_value_adjusted=p
                    )
        return [
            TreatmentResult(
                variant=t,
                metrics={
                    metric: MetricComparison(
                        comparison=c,
                        verdict=_verdict(c, control[metric].n, moments[t][metric].n, sequential),
                    )
                    for metric, c in compared[t].items()
                },
            )
            for t in treatments
        ]

    @staticmethod
    def _power(
        e: Experiment, moments: dict[str, dict[str, Moments]], metric: str, mde: float
    ) -> PowerEstimate:
        control = moments[e.control][metric]
        needed = None
        if control.mean and control.variance:
            needed = required_n(control.variance, abs(control.mean) * mde)
        smallest = min(moments[v.name][metric].n for v in e.variants)
        return PowerEstimate(
            metric=metric,
            baseline=control.mean,
            mde=mde,
            required_per_variant=needed,
            smallest_arm=smallest,
            progress=min(1.0, smallest / needed) if needed else None,
        )

    async def _warnings(
        self, info: SurveyVersionInfo, e: Experiment, variants: list[VariantResult], mismatch: bool
    ) -> list[str]:
        warnings = []
        if mismatch:
            warnings.append(
                "Sample ratio mismatch: assignments do not follow the configured weights "
                "(p < 0.001). Find the cause (broken links, bots, a variant failing to load) "
                "before trusting any difference."
            )
        if min((v.responses for v in variants), default=0) < MIN_N:
            warnings.append(
                f"Some variants have fewer than {MIN_N} responses: too few to conclude anything."
            )
        if await queries.clustered(self.surveys.db, info.survey_id, e.key):
            warnings.append(
                "Subjects were assigned in clusters (e.g. per agent or shift): responses within "
                "a cluster are alike, so these intervals are too narrow; compare clusters."
            )
        return warnings


def _outcome_moments(found: SubjectOutcomes, variant: str) -> dict[str, Moments]:
    """A variant's outcome metrics: repeat purchase (100 / 0 per subject) and net revenue
    per subject, over the subjects whose horizon ended."""
    done = found.done.get(variant, [])
    days = found.horizon_days
    return {
        f"repeat_purchase_{days}d": Moments.from_values([100.0 if b else 0.0 for b, _, _ in done]),
        f"revenue_{days}d": Moments.from_values([revenue for _, _, revenue in done]),
    }


def _progress(found: SubjectOutcomes, names: list[str]) -> OutcomeProgress:
    return OutcomeProgress(
        horizon_days=found.horizon_days,
        currency=found.currency,
        subjects={name: len(found.done.get(name, [])) for name in names},
        still_in_horizon={name: found.still_in_horizon.get(name, 0) for name in names},
    )


def _verdict(c: Comparison, control_n: int, treatment_n: int, sequential: bool) -> Verdict:
    if sequential and c.absolute_ci is not None and min(control_n, treatment_n) >= MIN_N:
        low, high = c.absolute_ci
        if low > 0:
            return "better"
        if high < 0:
            return "worse"
        return "no detectable difference"
    return verdict(c, control_n, treatment_n)
