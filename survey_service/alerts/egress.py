"""Where webhooks may go: public addresses, plus the networks the operator allows.

Whoever holds an admin key chooses a webhook's URL, and the service posts to it from
inside the owner's network. Unchecked, the cloud's metadata service
(``http://169.254.169.254/``), the database on ``localhost:5432`` or the office printer
would each be one endpoint away (server-side request forgery). As Gitea's
``webhook.ALLOWED_HOST_LIST`` and GitLab's "allow requests to the local network" switch
do by default, deliveries go to global addresses only, plus the networks
``SURVEY_WEBHOOK_ALLOWED_NETWORKS`` names (a CRM on the office network, say).

The check runs where each connection is opened, on every address the host name resolves
to at that moment, and the connection goes to an address that was checked, so a name that
pointed somewhere public when the endpoint was registered and points at 127.0.0.1 now (DNS
rebinding) is refused too. TLS still verifies the certificate against the URL's host name.
Registration refuses what it can tell without resolving: an address literal or
``localhost`` outside what is allowed (:func:`literal_refusal`).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable, Sequence

import httpcore
import httpx

__all__ = ["ALLOW_HINT", "Network", "literal_refusal", "refusal", "webhook_client"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

ALLOW_HINT = "webhooks go to public addresses unless SURVEY_WEBHOOK_ALLOWED_NETWORKS names them"


def refusal(address: str, allowed: Sequence[Network]) -> str | None:
    """Why ``address`` (an IP address as text) may not receive webhooks; None if it may."""
    ip = ipaddress.ip_address(address.partition("%")[0])  # without an IPv6 zone
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    if any(ip in network for network in allowed):
        return None
    if ip.is_global and not ip.is_multicast:
        return None
    kind = (
        "loopback"
        if ip.is_loopback
        else "link-local"
        if ip.is_link_local
        else "multicast"
        if ip.is_multicast
        else "unspecified"
        if ip.is_unspecified
        else "private"
        if ip.is_private
        else "non-public"
    )
    return f"{ip} is a {kind} address"


def literal_refusal(host: str, allowed: Sequence[Network]) -> str | None:
    """:func:`refusal` for a URL's host when it needs no lookup (an address literal or
    ``localhost``); None for any other name, checked when a delivery connects."""
    name = host.strip("[]").lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):  # RFC 6761: always loopback
        return refusal("127.0.0.1", allowed)
    try:
        return refusal(name, allowed)
    except ValueError:
        return None


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend with every TCP connection checked: the host is resolved
    here, every address it has must be allowed, and the connection goes to one of them."""

    def __init__(
        self, allowed: Sequence[Network], inner: httpcore.AsyncNetworkBackend | None = None
    ) -> None:
        self.allowed = list(allowed)
        self.inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's signature)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Resolve ``host``, refuse it if any address is not allowed, else connect."""
        addresses = await _resolve(host, port, timeout)
        for address in addresses:
            if reason := refusal(address, self.allowed):
                raise httpcore.ConnectError(f"{host}: {reason}; {ALLOW_HINT}")
        failure: Exception = httpcore.ConnectError(f"{host}: no address")
        for address in addresses:
            try:
                return await self.inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's signature)
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Never: a webhook goes over TCP."""
        raise httpcore.ConnectError("webhooks are not sent over Unix sockets")

    async def sleep(self, seconds: float) -> None:
        """As the inner backend sleeps."""
        await self.inner.sleep(seconds)


async def _resolve(host: str, port: int, seconds: float | None) -> list[str]:
    """The addresses of ``host``, each once, in the resolver's order."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(seconds):
            found = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except TimeoutError:
        raise httpcore.ConnectTimeout(f"{host}: name lookup timed out") from None
    except OSError as exc:  # socket.gaierror: no such name, resolver unreachable
        raise httpcore.ConnectError(f"{host}: {exc}") from None
    return list(dict.fromkeys(str(info[4][0]) for info in found))


class _GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over a pool whose connections go through :class:`GuardedBackend`.
    httpx takes no network backend itself, so the pool it built is replaced by one that
    has it (the same pool class, TLS verified as httpx does by default)."""

    def __init__(self, allowed: Sequence[Network]) -> None:
        super().__init__()
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(), network_backend=GuardedBackend(allowed)
        )


def webhook_client(allowed: Sequence[Network]) -> httpx.AsyncClient:
    """The client webhooks are sent with: only to allowed addresses, no redirects followed,
    no proxy taken from the environment."""
    return httpx.AsyncClient(
        transport=_GuardedTransport(allowed), follow_redirects=False, trust_env=False
    )
