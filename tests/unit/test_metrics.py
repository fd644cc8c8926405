"""The request histogram against prometheus_client's own ``Histogram``."""

from __future__ import annotations

import random

from prometheus_client import CollectorRegistry, Histogram, generate_latest

from survey_service.web.metrics import _BUCKETS, RequestDurations


def test_the_request_histogram_exposes_what_prometheus_clients_would() -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    durations = RequestDurations(ours)
    reference = Histogram(
        RequestDurations.name,
        "Request latency by route template",
        ["method", "route", "status"],
        buckets=_BUCKETS,
        registry=theirs,
    )
    rng = random.Random(5)
    routes = [("GET", "/s/{slug}", 200), ("POST", "/s/{slug}", 303), ("GET", "unmatched", 404)]
    # Every bound itself (a bucket counts what is at or below it), just past it, and more.
    seconds = [*_BUCKETS, *(b * 1.0001 for b in _BUCKETS), 0.0, 7.5]
    seconds += [rng.expovariate(50) for _ in range(500)]
    for value in seconds:
        method, route, status = rng.choice(routes)
        durations.observe(method, route, status, value)
        reference.labels(method, route, str(status)).observe(value)
    created = b"_created"  # prometheus_client's creation times differ, by design
    assert [line for line in generate_latest(ours).splitlines() if created not in line] == [
        line for line in generate_latest(theirs).splitlines() if created not in line
    ]


def test_methods_outside_the_standard_ones_share_one_series() -> None:
    registry = CollectorRegistry()
    durations = RequestDurations(registry)
    for method in ("BREW", "PROPFIND", "X" * 50, "GET"):
        durations.observe(method, "unmatched", 405, 0.002)
    count = RequestDurations.name + "_count"
    labels = {"route": "unmatched", "status": "405"}
    assert registry.get_sample_value(count, {"method": "other", **labels}) == 3
    assert registry.get_sample_value(count, {"method": "GET", **labels}) == 1
    assert len(durations._series) == 2
