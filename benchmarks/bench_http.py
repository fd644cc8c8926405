"""The HTTP figures of issue 13, each against a baseline measured in the same run.

Usage (``benchmarks/run`` calls this):

    .venv/bin/python benchmarks/bench_http.py [--dsn postgresql://postgres@127.0.0.1/postgres]
        [--seconds 10] [--connections 32] [--workers 1 2] [--memory-requests 1000000]

On a throwaway database, for each worker count, in this order:

1. with one worker, a bare Litestar hello-world under uvicorn, for the choice of server
   (half the run time);
2. the same app under Granian (the server ``serve`` runs: the baseline for pages) beside
   ``survey-service serve``, the two loaded in turns after two untimed seconds each, three
   rounds of half the run time each (this machine's speed drifts by tens of percent within
   a minute, and one run of each measured the drift too);
3. the service's phone flow, its JSON form serving (which keeps the tokens), then its JSON
   ingestion answering those tokens, between two runs of the raw loop (half the run time
   each, the service idle): the baseline is their mean, so a machine that gets slower or
   faster meanwhile moves both sides alike;
4. with one worker and ``--memory-requests``: the memory soak on the same process, until
   it has answered that many requests since it started (every figure's requests count);
5. with one worker, the form page again with the access log on, as ``serve`` runs by
   default (the figures above leave it off, as the hello-world has none).

The targets are judged with one worker, issue 13's setup; two workers on two cores share
them with PostgreSQL and wrk, and show what a larger machine would take. Every figure
that writes starts once the service has done its background work for the figures before
(its fold and alert queues empty) and after a CHECKPOINT (:func:`quiet`). Load comes from
wrk in its own process, one connection per wrk thread so that each Lua state is one
customer (``benchmarks/wrk/*.lua``):

- form page: ``GET /s/counter-check`` (target: at least 0.6x the hello-world);
- phone flow: GET the page, POST the answers with the CSRF cookie and field, 303
  (target: 1,270 completed submissions/s, p99 under 50 ms, no errors);
- JSON ingestion: POSTs of answers to forms served beforehand, which is what the raw
  loop's rows compare with (target: at least 1.0x a raw asyncpg single-row INSERT loop
  into the same table, same concurrency, a pool as large as the service's, on the event
  loop the service runs on (uvloop where it is installed), run alone before and after the
  service);
- resident memory: after every figure and after the soak (target: flat, the soak's last
  reading within 5% of its first).

Under each figure: the CPU used per HTTP request by the server's event loops (each
process's main thread, where the application's Python runs and which serialises it), by
its other threads (Granian's Rust runtime, which takes the same GIL to hand requests over),
by PostgreSQL and by wrk.

Rows stored are counted against acknowledged submissions (wrk stops with up to one request
per connection in flight, whose row may be stored unacknowledged).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil
from _common import ROOT, throwaway_database

from survey_service.surveys.tokens import new_nonce

HERE = Path(__file__).resolve().parent
WRK = HERE / "wrk"
POOL = 10  # the service's default SURVEY_DB_POOL_MAX
ROUNDS = 3  # of the hello-world and the form page in turns, half the run time each
WARM_UP = 2  # seconds of load on each before the rounds, not counted


BIN = Path(sys.executable).parent
HELLO_SERVERS = {
    "granian": lambda port, workers: [
        str(BIN / "granian"),
        "--interface=asgi",
        f"--port={port}",
        f"--workers={workers}",
        "--log-level=warning",
        "--loop=auto",  # as `serve` runs it: uvloop where it is installed
        "hello_app:app",
    ],
    "uvicorn": lambda port, workers: [
        str(BIN / "uvicorn"),
        "hello_app:app",
        f"--port={port}",
        f"--workers={workers}",
        "--log-level=warning",
        "--no-access-log",
    ],
}
"""The same bare app under both servers: Granian is the one ``serve`` runs (its figure is
the baseline); uvicorn's is printed for the choice."""


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start(
    command: list[str], env: dict[str, str], ready: str, log: Path, workers: int = 1
) -> subprocess.Popen[bytes]:
    with log.open("w") as out:
        process = subprocess.Popen(
            command, env={**os.environ, **env}, cwd=HERE, stdout=out, stderr=out
        )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx.get(ready, timeout=1).status_code == 200:
                if workers > 1:
                    time.sleep(1)  # every worker up, not only the one that answered
                return process
        except httpx.HTTPError:
            pass
        if process.poll() is not None:
            break
        time.sleep(0.2)
    process.kill()
    raise SystemExit(f"{command[0]} did not start:\n{log.read_text()[-3000:]}")


def start_service(
    dsn: str, port: int, logs: Path, workers: int = 1, **env: str
) -> subprocess.Popen[bytes]:
    """``survey-service serve`` on ``dsn`` (access log off; ``env``: more settings), once
    it is ready; its log in ``logs``."""
    settings = {
        "DATABASE_URL": dsn,
        "SURVEY_PORT": str(port),
        "SURVEY_WORKERS": str(workers),
        "SURVEY_FORMS_DIR": str(ROOT / "forms"),
        "SURVEY_DATA_DIR": str(logs / "data"),
        "SURVEY_SECRET_KEY": "b" * 40,
        "SURVEY_ACCESS_LOG": "false",
        "SURVEY_LOG_LEVEL": "WARNING",
        **env,
    }
    ready = f"http://127.0.0.1:{port}/health/ready"
    command = [str(BIN / "survey-service"), "serve"]
    return start(command, settings, ready, logs / f"service-{workers}.log", workers)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


def cpu_seconds(server: subprocess.Popen[bytes]) -> dict[str, float]:
    """CPU seconds used so far by the server's event loops (each process's main thread),
    by its other threads (the HTTP server's own runtime) and by every PostgreSQL process."""
    used = {"event loop": 0.0, "server threads": 0.0, "PostgreSQL": 0.0}
    parent = psutil.Process(server.pid)
    for process in [parent, *parent.children(recursive=True)]:
        try:
            for thread in process.threads():
                kind = "event loop" if thread.id == process.pid else "server threads"
                used[kind] += thread.user_time + thread.system_time
        except psutil.Error:
            continue
    for process in psutil.process_iter(["name"]):
        if process.info["name"] == "postgres":
            try:
                times = process.cpu_times()
            except psutil.Error:
                continue
            used["PostgreSQL"] += times.user + times.system
    return used


def wrk(
    url: str,
    scenario: str,
    seconds: int,
    connections: int,
    server: subprocess.Popen[bytes],
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Run wrk with ``common.lua`` + ``<scenario>.lua`` (``env``: for the script); its JSON
    summary, with the CPU each party used per request (``cpu_us``: the server's parts,
    PostgreSQL, wrk)."""
    script = Path(tempfile.mkdtemp(prefix="wrk")) / f"{scenario}.lua"
    script.write_text((WRK / "common.lua").read_text() + (WRK / f"{scenario}.lua").read_text())
    command = [
        "wrk",
        f"-t{connections}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        url,
    ]
    before, children = cpu_seconds(server), resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        command, capture_output=True, text=True, check=True, env={**os.environ, **(env or {})}
    )
    after, waited = cpu_seconds(server), resource.getrusage(resource.RUSAGE_CHILDREN)
    shutil.rmtree(script.parent)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["per_second"] = result["completed"] / result["seconds"]
    used = {kind: after[kind] - before[kind] for kind in after}
    used["wrk"] = waited.ru_utime + waited.ru_stime - children.ru_utime - children.ru_stime
    result["cpu_us"] = {kind: 1e6 * v / max(result["requests"], 1) for kind, v in used.items()}
    return result


def cpu_line(result: dict[str, Any], per: str = "request") -> None:
    """Where one figure's CPU went, per HTTP request (or row): the serialised part (event
    loop) against the parts that run beside it."""
    parts = ", ".join(f"{kind} {us:.0f}" for kind, us in result["cpu_us"].items())
    print(f"  {'':<34} {'':>16}  CPU µs per {per}: {parts}", flush=True)


async def count(dsn: str, slug: str, table: str = "response") -> int:
    """Rows of ``slug`` in ``table``: answers stored, or served forms (``assignment``)."""
    connection = await asyncpg.connect(dsn)
    try:
        value: int = await connection.fetchval(
            f"SELECT count(*) FROM {table} r JOIN survey s ON s.id = r.survey_id WHERE s.slug = $1",
            slug,
        )
        return value
    finally:
        await connection.close()


async def written(dsn: str, slug: str, table: str) -> int:
    """:func:`count` once the service has written what it buffered (served forms go in
    every 0.25 s): the same figure in two readings half a second apart."""
    last = await count(dsn, slug, table)
    while True:
        await asyncio.sleep(0.5)
        now = await count(dsn, slug, table)
        if now == last:
            return now
        last = now


async def raw_inserts(dsn: str, seconds: float, concurrency: int) -> tuple[float, dict[str, float]]:
    """Single-row INSERTs like the service's into ``response``, committed one by one: rows
    a second, and the CPU µs per row of this client and of the rest of the machine
    (PostgreSQL, whose backends end with the pool, so the machine's total is read)."""
    pool = await asyncpg.create_pool(dsn, min_size=POOL, max_size=POOL)
    assert pool is not None
    # A survey of its own: the same table, indexes and triggers as the service's answers.
    async with pool.acquire() as connection, connection.transaction():
        survey = await connection.fetchval(
            "INSERT INTO survey (slug) VALUES ('raw-baseline')"
            " ON CONFLICT (slug) DO UPDATE SET slug = EXCLUDED.slug RETURNING id"
        )
        version = await connection.fetchval(
            "INSERT INTO survey_version (survey_id, version, content_hash, definition)"
            " VALUES ($1, 1, 'raw', '{}') ON CONFLICT (survey_id, version)"
            " DO UPDATE SET version = 1 RETURNING id",
            survey,
        )
    ids = (survey, version)
    sql = (
        "INSERT INTO response (survey_id, survey_version_id, token_nonce, variant, channel,"
        " language, metadata, answers, nps, flags) VALUES ($1, $2, $3, NULL, 'api', 'en',"
        " '{}', $4, 9, '{}') ON CONFLICT (survey_id, token_nonce) DO NOTHING RETURNING id"
    )
    done = 0
    deadline = time.monotonic() + seconds

    async def worker() -> None:
        nonlocal done
        while time.monotonic() < deadline:
            nonce = uuid.UUID(bytes=new_nonce())  # the service's kind of key
            await pool.fetchval(sql, ids[0], ids[1], nonce, '{"recommend": 9}')
            done += 1

    machine, client = psutil.cpu_times(), psutil.Process().cpu_times()
    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.monotonic() - started
    machine_after, client_after = psutil.cpu_times(), psutil.Process().cpu_times()
    await pool.close()
    ours = client_after.user + client_after.system - client.user - client.system
    busy = sum(
        getattr(machine_after, f) - getattr(machine, f)
        for f in ("user", "system", "irq", "softirq")
    )
    cpu = {"client": 1e6 * ours / done, "PostgreSQL and the rest": 1e6 * (busy - ours) / done}
    return done / elapsed, cpu


def combined(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Several wrk runs of one scenario as one: totals, rates over the summed time, the
    median of the rounds' p50 and p99, and the CPU per request over all of them."""
    total = {k: sum(r[k] for r in rounds) for k in ("requests", "seconds", "completed", "failed")}
    total["socket_errors"] = sum(r["socket_errors"] for r in rounds)
    total["per_second"] = total["completed"] / total["seconds"]
    for key in ("p50_ms", "p99_ms"):
        total[key] = statistics.median(r[key] for r in rounds)
    requests = max(total["requests"], 1)
    total["cpu_us"] = {
        kind: sum(r["cpu_us"][kind] * r["requests"] for r in rounds) / requests
        for kind in rounds[0]["cpu_us"]
    }
    return total


def rss_mb(process: subprocess.Popen[bytes]) -> list[float]:
    """Resident memory of the service's processes (its workers when it has several)."""
    parent = psutil.Process(process.pid)
    children = [c for c in parent.children() if "resource_tracker" not in " ".join(c.cmdline())]
    return [round(p.memory_info().rss / 2**20, 1) for p in (children or [parent])]


def line(name: str, figure: str, p50: float | None, p99: float | None, extra: str = "") -> None:
    lat = f"p50 {p50:6.1f} ms  p99 {p99:6.1f} ms" if p50 is not None and p99 is not None else ""
    print(f"  {name:<34} {figure:>16}  {lat:<30} {extra}", flush=True)


def verdict(ratio: float, target: float, workers: int = 1) -> str:
    """The ratio against its target. The targets are issue 13's for one process (its
    setup); two workers on these two cores share them with PostgreSQL and wrk, and show
    what a larger machine would take."""
    if workers > 1:
        return f"ratio {ratio:5.2f} (target {target} judged at one worker)"
    return f"ratio {ratio:5.2f} (target {target}: {'met' if ratio >= target else 'NOT met'})"


SOAK_CHUNK = 8
"""Seconds of the memory soak between two readings of resident memory."""


_QUEUED = (
    "SELECT (SELECT count(*) FROM response_unfolded) + (SELECT count(*) FROM"
    " assignment_unfolded) + (SELECT count(*) FROM response_event_queue)"
)


async def quiet(dsn: str) -> None:
    """Before a figure that writes: the rows of the figures before it folded and seen by
    the alert job (the service does that every 2 s), so no figure pays for another's;
    then a CHECKPOINT, so it starts with no dirty pages and no checkpoint under way (one
    the previous figure's WAL brought on, spread over minutes, does not fall on it)."""
    connection = await asyncpg.connect(dsn)
    try:
        for _ in range(150):  # 30 s at most
            if not await connection.fetchval(_QUEUED):
                break
            await asyncio.sleep(0.2)
        await connection.execute("CHECKPOINT")
    finally:
        await connection.close()


class Service:
    """``survey-service serve`` under load: wrk runs against it, counting the requests it
    answered in all of them (the memory target counts every one)."""

    def __init__(self, process: subprocess.Popen[bytes], base: str) -> None:
        self.process, self.base, self.requests = process, base, 0

    def load(
        self, path: str, scenario: str, seconds: int, connections: int, **env: str
    ) -> dict[str, Any]:
        result = wrk(self.base + path, scenario, seconds, connections, self.process, env)
        self.requests += result["requests"]
        return result


def hello_world(server: str, workers: int, logs: Path) -> tuple[subprocess.Popen[bytes], str]:
    """The bare hello-world app under ``server``, started: its process and URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/hello"
    log = logs / f"hello-{server}-{workers}.log"
    process = start(HELLO_SERVERS[server](port, workers), {}, url, log, workers)
    return process, url


async def page_rounds(
    dsn: str, hello: subprocess.Popen[bytes], hello_url: str, service: Service, half: int, c: int
) -> tuple[dict[str, Any], dict[str, Any], str]:
    """The hello-world and the form page in turns, each idle while the other runs: both
    combined, and each round's ratio and what the pages served (see below). (The machine
    drifts by tens of percent within a minute; one long run of each measured that too.)
    Both are warmed up first, untimed: a fresh service's first seconds also run its
    start-up jobs, and the first round was the lowest in every run.

    ``wrk/page.lua`` leaves the answers to wrk, which counts those with a status over 399
    as errors; that every other one was a form page shows in the served forms the service
    recorded meanwhile (one a page; up to one a connection more, in flight when a round
    ended)."""
    wrk(hello_url, "page", WARM_UP, c, hello)
    service.load("/s/counter-check", "page", WARM_UP, c)
    before = await written(dsn, "counter-check", "assignment")
    hellos, pages = [], []
    for _ in range(ROUNDS):
        hellos.append(wrk(hello_url, "page", half, c, hello))
        pages.append(service.load("/s/counter-check", "page", half, c))
    served = await written(dsn, "counter-check", "assignment") - before
    rounds = " ".join(
        f"{p['per_second'] / h['per_second']:.2f}" for h, p in zip(hellos, pages, strict=True)
    )
    page = combined(pages)
    recorded = "" if page["completed"] <= served <= page["completed"] + c * ROUNDS else "NOT "
    return (
        combined(hellos),
        page,
        f"rounds {rounds}; {recorded}one served form recorded a page ({served:,})",
    )


def submissions(
    name: str, result: dict[str, Any], stored: int, extra: str = "", unit: str = "created/s"
) -> None:
    """A figure of stored answers: rate, latency, errors and rows against acknowledgements."""
    line(
        name,
        f"{result['per_second']:,.0f} {unit}",
        result["p50_ms"],
        result["p99_ms"],
        f"{extra}errors {result['failed'] + result['socket_errors']};"
        f" stored {stored} for {result['completed']} acknowledged",
    )
    cpu_line(result)


def soak(service: Service, total: int, c: int, chunk: int = SOAK_CHUNK, at_least: int = 0) -> None:
    """Memory: form pages and JSON forms from ever new client addresses
    (``wrk/memory.lua``), in runs of ``chunk`` seconds, until the service has answered
    ``total`` requests since it started (and for ``at_least`` seconds); flat is the last
    reading within 5% of the first (caches and rate-limit counters fill within the first
    run; a leak keeps growing)."""
    sizes: list[float] = []
    while service.requests < total or len(sizes) < max(2, at_least // chunk):
        service.load("/", "memory", chunk, c)
        sizes.append(max(rss_mb(service.process)))
    growth = (sizes[-1] - sizes[0]) / sizes[0]
    line(
        "resident memory, new clients",
        f"{sizes[-1]} MB",
        None,
        None,
        f"after {service.requests:,} requests; {growth:+.1%} since the first {chunk} s"
        f" of new clients (target flat, within 5%: {'met' if growth <= 0.05 else 'NOT met'});"
        f" every {chunk} s: {' '.join(str(size) for size in sizes)}",
    )


async def figures(dsn: str, workers: int, args: argparse.Namespace, logs: Path) -> None:
    """Every figure at ``workers`` processes, in the order of the module's docstring."""
    c, seconds = args.connections, args.seconds
    half = max(1, seconds // 2)  # a round of the page against the hello-world
    uvicorn = None
    # uvicorn with one worker only: its supervisor binds the socket itself with ``proto``
    # 0, so asyncio never sets TCP_NODELAY on its workers' connections, and every
    # keep-alive answer waits about 40 ms for the client's delayed ACK (Kludex/uvicorn#3149).
    if workers == 1:
        process, url = hello_world("uvicorn", workers, logs)
        try:
            uvicorn = wrk(url, "page", half, c, process)
        finally:
            stop(process)
    hello, hello_url = hello_world("granian", workers, logs)
    port = free_port()
    try:
        process = start_service(
            dsn,
            port,
            logs,
            workers,
            # abuse limits far above the load: this measures the work, not the 429s
            SURVEY_SUBMIT_LIMIT_PER_IP="100000000",
            SURVEY_SUBMIT_LIMIT_PER_SURVEY="100000000",
            # the memory soak's clients come through a proxy (X-Forwarded-For)
            SURVEY_TRUSTED_PROXIES="127.0.0.1",
        )
    except BaseException:
        stop(hello)
        raise
    service = Service(process, f"http://127.0.0.1:{port}")
    try:
        bare, page, rounds = await page_rounds(dsn, hello, hello_url, service, half, c)
        stop(hello)
        for server, result in (("granian", bare), ("uvicorn", uvicorn)):
            if result is not None:
                line(
                    f"bare Litestar GET /hello, {server}",
                    f"{result['per_second']:,.0f} req/s",
                    result["p50_ms"],
                    result["p99_ms"],
                )
                cpu_line(result)
        line(
            "form page GET /s/counter-check",
            f"{page['per_second']:,.0f} req/s",
            page["p50_ms"],
            page["p99_ms"],
            f"{verdict(page['per_second'] / bare['per_second'], 0.6, workers)} {rounds}",
        )
        cpu_line(page)
        await quiet(dsn)
        before = await count(dsn, "counter-check")
        flow = service.load("/s/counter-check", "phone_flow", seconds, c)
        submissions(
            "phone flow (GET + POST, 303)",
            flow,
            await count(dsn, "counter-check") - before,
            f"{verdict(flow['per_second'] / 12.7 / 100, 1.0, workers)} of 100x LimeSurvey's 12.7/s;"
            f" p99 under 50 ms: {'met' if flow['p99_ms'] < 50 else 'NOT met'}; ",
            "sub/s",
        )
        # Ingestion as the raw loop does it: answers to forms served beforehand.
        tokens_dir = tempfile.mkdtemp(prefix="tokens", dir=logs)
        forms = service.load(
            "/api/v1/surveys/nps-empathy", "json_tokens", seconds, c, TOKENS_DIR=tokens_dir
        )
        line(
            "JSON form GET (its token kept)",
            f"{forms['per_second']:,.0f} req/s",
            forms["p50_ms"],
            forms["p99_ms"],
            "the tokens the ingestion below answers",
        )
        await quiet(dsn)
        raw_before, _ = await raw_inserts(dsn, half, c)
        await quiet(dsn)
        before = await count(dsn, "nps-empathy")
        ingest = service.load("", "json_ingest", seconds, c, TOKENS_DIR=tokens_dir)
        stored = await count(dsn, "nps-empathy") - before
        submissions("JSON ingestion (POST, token held)", ingest, stored)
        await quiet(dsn)
        raw_after, raw_cpu = await raw_inserts(dsn, half, c)
        against_raw(ingest, raw_before, raw_after, raw_cpu, workers)
        line("resident memory per process", f"{rss_mb(process)} MB", None, None)
        if workers == 1 and args.memory_requests:
            soak(service, args.memory_requests, c)
    finally:
        stop(process)
        if hello.poll() is None:  # the rounds did not finish
            stop(hello)
    if workers == 1:
        # The same page with the access log on, as `serve` runs by default (the figures
        # above leave it off, as the hello-world has none): one line per request.
        logged = start_service(
            dsn, port, logs, workers, SURVEY_ACCESS_LOG="true", SURVEY_LOG_LEVEL="INFO"
        )
        try:
            wrk(f"{service.base}/s/counter-check", "page", WARM_UP, c, logged)
            page_logged = wrk(f"{service.base}/s/counter-check", "page", half, c, logged)
        finally:
            stop(logged)
        line(
            "form page, access log on",
            f"{page_logged['per_second']:,.0f} req/s",
            page_logged["p50_ms"],
            page_logged["p99_ms"],
            f"{page_logged['per_second'] / bare['per_second']:.2f} of the hello-world"
            " (the default; the figures above run without it)",
        )
        cpu_line(page_logged)


def against_raw(
    ingest: dict[str, Any], before: float, after: float, cpu: dict[str, float], workers: int
) -> None:
    """Ingestion against the raw loop's runs just before and after it."""
    raw_rate = (before + after) / 2
    line(
        f"raw asyncpg INSERT loop (pool {POOL})",
        f"{raw_rate:,.0f} rows/s",
        None,
        None,
        f"before the ingestion {before:,.0f}, after it {after:,.0f}",
    )
    cpu_line({"cpu_us": cpu}, "row of the raw loop")
    line(
        "JSON ingestion against raw INSERTs",
        f"{ingest['per_second']:,.0f} / {raw_rate:,.0f}",
        None,
        None,
        verdict(ingest["per_second"] / raw_rate, 1.0, workers),
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dsn", default=os.environ.get("TEST_DATABASE_URL"))
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--memory-requests",
        type=int,
        default=0,
        help="with one worker, soak the service until it has answered this many requests",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install wrk")
    logs = Path(tempfile.mkdtemp(prefix="bench-http"))
    loop = type(asyncio.get_running_loop()).__module__.partition(".")[0]
    print(
        f"{os.cpu_count()} CPUs, {args.connections} connections, {args.seconds} s per run,"
        f" {loop} event loops; logs in {logs}"
    )
    async with throwaway_database(args.dsn) as dsn:
        for workers in args.workers:
            print(f"\n{workers} worker process(es)")
            await figures(dsn, workers, args, logs)


if __name__ == "__main__":
    try:  # the raw loop runs on the event loop the service runs on (fastest first)
        import uvloop
    except ImportError:
        asyncio.run(main())
    else:
        uvloop.run(main())
