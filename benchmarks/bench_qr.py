"""QR images per second: served from the cache, generated cold, and the bare library.

Usage:

    .venv/bin/python benchmarks/bench_qr.py [--dsn postgresql://postgres@127.0.0.1/postgres] [--n 300]

Measured in one run on the same link and options (SVG, error correction M, scale 8):
the bare ``qrcode`` library making the same SVG in a loop (``SvgPathImage``) as the
baseline; this service's renderer with its cache cleared each time (cold); and
GET /s/{slug}/qr.svg in-process, first with a cold cache each call and then cached.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import tempfile
import time
from collections.abc import Awaitable, Callable

import httpx
import qrcode
import qrcode.image.svg
from _common import ROOT, throwaway_database

from survey_service.app import create_app
from survey_service.qr.images import QrOptions, clear_cache, render
from survey_service.settings import Settings


def per_second(n: int, job: Callable[[], object]) -> float:
    start = time.perf_counter()
    for _ in range(n):
        job()
    return n / (time.perf_counter() - start)


async def per_second_async(n: int, job: Callable[[], Awaitable[object]]) -> float:
    start = time.perf_counter()
    for _ in range(n):
        await job()
    return n / (time.perf_counter() - start)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dsn", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--n", type=int, default=300)
    args = parser.parse_args()
    async with throwaway_database(args.dsn) as dsn:
        settings = Settings(
            database_url=dsn,
            forms_dir=str(ROOT / "forms"),
            secret_key="q" * 40,
            data_dir=tempfile.mkdtemp(),
        )
        app = create_app(settings)
        async with app.lifespan():
            url = await app.state.links.short_url("counter-check", {"agent": "17"})
            options = QrOptions()

            def bare() -> None:
                image = qrcode.make(url, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
                image.save(io.BytesIO())

            def cold() -> None:
                clear_cache()
                render(url, options, "svg")

            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://b") as client:
                path = "/s/counter-check/qr.svg?agent=17"

                async def http_cold() -> None:
                    clear_cache()
                    assert (await client.get(path)).status_code == 200

                async def http_cached() -> None:
                    assert (await client.get(path)).status_code == 200

                rates = {
                    "bare qrcode library (baseline)": per_second(args.n, bare),
                    "renderer, cold": per_second(args.n, cold),
                    "GET qr.svg, cold cache": await per_second_async(args.n, http_cold),
                    "GET qr.svg, cached": await per_second_async(args.n * 5, http_cached),
                }
    baseline = rates["bare qrcode library (baseline)"]
    print(f"{'images per second':<32} {'rate':>8} {'x baseline':>11}")
    for label, rate in rates.items():
        print(f"{label:<32} {rate:>8.0f} {rate / baseline:>11.2f}")


if __name__ == "__main__":
    asyncio.run(main())
