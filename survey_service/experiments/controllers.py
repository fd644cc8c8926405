"""Experiments over REST: definitions, subject assignments and results."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from survey_service.experiments.service import (
    AssignmentResult,
    ExperimentResults,
    ExperimentService,
    ExperimentView,
)
from survey_service.lib.structs import Struct
from survey_service.reporting.service import KpiParams
from survey_service.web.auth import API_KEY, api_key_of, requires

__all__ = ["AssignmentIn", "ExperimentController"]


class AssignmentIn(Struct):
    """Who is being assigned: a customer, order or ticket id, and optionally the cluster
    (agent, shift) when scripts are assigned per staff member rather than per customer."""

    subject: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    cluster: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
    language: str | None = None


class ExperimentController(Controller):
    """A/B tests of survey wording and of service scripts."""

    path = "/api/v1/experiments"
    tags = ["experiments"]

    @get(guards=[requires("kpis:read")], security=API_KEY, summary="Experiments")
    async def all(
        self, request: Request[Any, Any, Any], experiments: NamedDependency[ExperimentService]
    ) -> list[ExperimentView]:
        """Every experiment of the surveys the key sees."""
        return experiments.visible(api_key_of(request))

    @get("/{key:str}", guards=[requires("kpis:read")], security=API_KEY, summary="One experiment")
    async def one(
        self,
        request: Request[Any, Any, Any],
        experiments: NamedDependency[ExperimentService],
        key: FromPath[str],
    ) -> ExperimentView:
        """Its hypothesis, primary metric, control, variants and weights."""
        return experiments.get(api_key_of(request), key)

    @post(
        "/{key:str}/assignments",
        guards=[requires("assignments:write")],
        security=API_KEY,
        summary="Assign a subject (sticky)",
    )
    async def assign(
        self,
        request: Request[Any, Any, Any],
        experiments: NamedDependency[ExperimentService],
        key: FromPath[str],
        data: JSONBody[AssignmentIn],
    ) -> Response[AssignmentResult]:
        """201 with a fresh draw, 200 with the subject's earlier one; the link carries it."""
        result = await experiments.assign(
            api_key_of(request), key, data.subject, data.cluster, data.language
        )
        return Response(result, status_code=201 if result.created else 200)

    @get(
        "/{key:str}/results",
        guards=[requires("kpis:read")],
        security=API_KEY,
        summary="Experiment results",
    )
    async def results(
        self,
        request: Request[Any, Any, Any],
        experiments: NamedDependency[ExperimentService],
        filters: NamedDependency[KpiParams],
        key: FromPath[str],
        sequential: FromQuery[bool] = False,
        mde: Annotated[
            float | None, QueryParameter(description="relative effect for the power helper")
        ] = None,
        metric: Annotated[
            str | None, QueryParameter(description="metric for the power helper")
        ] = None,
    ) -> ExperimentResults:
        """Per variant and metric; treatments against the control; SRM; power. The KPI
        filters apply, except ``variant``."""
        return await experiments.results(
            api_key_of(request), key, filters, sequential=sequential, mde=mde, metric=metric
        )
