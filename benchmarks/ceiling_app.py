"""A bare ASGI app answering a recorded form page (``bench_page_ceiling.py`` runs it under
Granian): the page's bytes and headers from ``$PAGE_FILE``, after ``$BURN_US``
microseconds of pure Python per request (the service's own in-process cost of the page)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

_RECORDED = json.loads(Path(os.environ["PAGE_FILE"]).read_text())
BODY: bytes = _RECORDED["body"].encode()
HEADERS = [(k.encode(), v.encode()) for k, v in _RECORDED["headers"]]
BURN = float(os.environ.get("BURN_US", "0")) / 1e6


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The recorded page for every request (and lifespan events answered)."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    end = time.perf_counter() + BURN
    while time.perf_counter() < end:  # Python holding the GIL, as the page's handler does
        pass
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
