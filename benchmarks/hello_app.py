"""The baseline: a bare Litestar hello-world (``granian --interface asgi hello_app:app``)."""

from litestar import Litestar, get


@get("/hello")
async def hello() -> dict[str, str]:
    """The smallest JSON answer."""
    return {"hello": "world"}


app = Litestar([hello])
