"""QR codes as SVG and PNG: options, the readability check, rendering. Pure and cached.

The ``qrcode`` package computes the module matrix; drawing it here keeps the output
deterministic byte for byte (same input, same image, same ETag) and needs no imaging
library: SVG is one path, PNG is zlib-compressed rows.
"""

from __future__ import annotations

import asyncio
import hashlib
import struct
import zlib
from typing import Annotated, Literal

import msgspec
import qrcode
import qrcode.constants

__all__ = [
    "MIN_CONTRAST",
    "QrImage",
    "QrOptions",
    "clear_cache",
    "contrast_ratio",
    "draw",
    "render",
]

MIN_CONTRAST = 4.5
"""Dark modules must be at least this much darker than the light ones (WCAG contrast ratio),
and darker, not lighter: inverted and washed-out codes defeat many phone scanners."""

HexColor = Annotated[str, msgspec.Meta(pattern=r"^#[0-9a-fA-F]{6}$")]

_LEVELS = {
    "L": qrcode.constants.ERROR_CORRECT_L,
    "M": qrcode.constants.ERROR_CORRECT_M,
    "Q": qrcode.constants.ERROR_CORRECT_Q,
    "H": qrcode.constants.ERROR_CORRECT_H,
}


class QrOptions(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How to draw a code; every field has a safe default. Frozen (unlike the base Struct)
    because options are part of the rendering cache's key."""

    scale: Annotated[int, msgspec.Meta(ge=2, le=40)] = 8
    """Pixels (PNG) or SVG units per module."""
    ec: Literal["L", "M", "Q", "H"] = "M"
    """Error correction: L 7%, M 15%, Q 25%, H 30% of the code may be damaged."""
    border: Annotated[int, msgspec.Meta(ge=2, le=16)] = 4
    """Quiet zone in modules (the standard asks for 4)."""
    fg: HexColor = "#000000"
    bg: HexColor = "#ffffff"


class QrImage(msgspec.Struct, frozen=True, kw_only=True):
    """A rendered code (frozen: it lives in the cache)."""

    body: bytes
    media_type: str
    etag: str
    version: int


def _luminance(color: str) -> float:
    channels = [int(color[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast_ratio(fg: str, bg: str) -> float:
    """WCAG contrast ratio of background to foreground (above 1 when fg is darker)."""
    return (_luminance(bg) + 0.05) / (_luminance(fg) + 0.05)


def check(options: QrOptions) -> str | None:
    """Why scanners could not read codes drawn this way, or None."""
    ratio = contrast_ratio(options.fg, options.bg)
    if ratio < MIN_CONTRAST:
        return (
            f"fg {options.fg} on bg {options.bg} has contrast {ratio:.2f}; codes need dark "
            f"modules on a light background with at least {MIN_CONTRAST}:1"
        )
    return None


def _matrix(data: str, options: QrOptions) -> tuple[list[list[bool]], int]:
    code = qrcode.QRCode(error_correction=_LEVELS[options.ec], border=options.border)
    code.add_data(data)
    code.make(fit=True)
    return code.get_matrix(), int(code.version)


def _svg(matrix: list[list[bool]], options: QrOptions) -> bytes:
    size = len(matrix)
    path = "".join(
        f"M{x},{y}h1v1h-1z" for y, row in enumerate(matrix) for x, dark in enumerate(row) if dark
    )
    pixels = size * options.scale
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{pixels}" height="{pixels}" '
        f'viewBox="0 0 {size} {size}" shape-rendering="crispEdges" role="img" '
        f'aria-label="QR code"><rect width="{size}" height="{size}" fill="{options.bg}"/>'
        f'<path d="{path}" fill="{options.fg}"/></svg>'
    ).encode()


def _png(matrix: list[list[bool]], options: QrOptions) -> bytes:
    dark = bytes(int(options.fg[i : i + 2], 16) for i in (1, 3, 5))
    light = bytes(int(options.bg[i : i + 2], 16) for i in (1, 3, 5))
    raw = bytearray()
    for row in matrix:
        line = b"".join((dark if cell else light) * options.scale for cell in row)
        raw += (b"\x00" + line) * options.scale
    width = len(matrix) * options.scale

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, width, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(raw), 9))
        + chunk(b"IEND", b"")
    )


_RENDERING = asyncio.Semaphore(2)
"""At most two codes drawn at once, off the event loop: a large PNG (scale 40, ec H) takes
over 100 ms of CPU, and anyone may ask for one."""
_CACHE: dict[tuple[str, QrOptions, str], QrImage] = {}
_CACHE_SIZE = 1024


async def draw(data: str, options: QrOptions, kind: Literal["svg", "png"]) -> QrImage:
    """:func:`render` for requests: cached codes at once, new ones in a worker thread, two at a
    time, so the event loop keeps serving customers while codes are drawn."""
    cached = _CACHE.get((data, options, kind))
    if cached is not None:
        return cached
    async with _RENDERING:
        return await asyncio.to_thread(render, data, options, kind)


def clear_cache() -> None:
    """Forget every drawn code (they are drawn again, byte for byte the same)."""
    _CACHE.clear()


def render(data: str, options: QrOptions, kind: Literal["svg", "png"]) -> QrImage:
    """The code for ``data``, cached: a counter display asking again costs a dict lookup."""
    key = (data, options, kind)
    image = _CACHE.get(key)
    if image is None:
        matrix, version = _matrix(data, options)
        body = _svg(matrix, options) if kind == "svg" else _png(matrix, options)
        image = QrImage(
            body=body,
            media_type="image/svg+xml" if kind == "svg" else "image/png",
            etag='"' + hashlib.sha256(body).hexdigest()[:32] + '"',
            version=version,
        )
        if len(_CACHE) >= _CACHE_SIZE:
            del _CACHE[next(iter(_CACHE))]  # the oldest
        _CACHE[key] = image
    return image
