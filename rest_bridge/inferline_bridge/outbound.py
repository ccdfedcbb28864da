"""HTTP the bridge sends on a request's behalf (chat image URLs): connections go only to
addresses that were checked.

A guard that resolves a name, checks the answer and then lets the HTTP client resolve the name
again to connect can be walked past by a DNS server that answers a public address first and an
internal one a moment later (DNS rebinding). Here the check sits where the connection is made:
an httpcore network backend resolves the name once, refuses unless every address it got is
allowed, and connects to one of exactly those addresses. httpcore still sends the URL's own name
in the ``Host`` header and as the TLS server name (and checks the certificate against it), and
each redirect hop that reaches a new host opens its connection through the same backend.
Proxy settings from the environment are ignored; a proxy is used only when ``[api]
image_fetch_proxy`` names one, and then the proxy makes the connection (see
``CheckedProxyTransport``).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable, Iterable

import httpcore
import httpx


class AddressRefused(Exception):
    """The host resolved to an address this server may not reach."""


class Unresolved(Exception):
    """The host's name could not be resolved."""


async def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, looked up once per connection."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def checked(host: str, port: int, allows: Callable[[str], bool]) -> list[str]:
    """The addresses ``host`` resolves to, once, if every one of them is allowed."""
    try:
        addresses = await resolve(host, port)
    except (OSError, UnicodeError):
        raise Unresolved(host) from None
    if not addresses or not all(allows(address) for address in addresses):
        raise AddressRefused(host)
    return addresses


def address_rule(allowed: Iterable[str]) -> Callable[[str], bool]:
    """Whether an address may be reached: global ones, and those inside ``allowed`` (IPs or
    CIDR ranges; entries that are neither are ignored)."""
    networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    for entry in allowed:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            continue

    def allows(address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return ip.is_global or any(ip in network for network in networks)

    return allows


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """Resolve once, check every address, connect to a checked one."""

    def __init__(
        self, allows: Callable[[str], bool], inner: httpcore.AsyncNetworkBackend | None = None
    ) -> None:
        self._allows = allows
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """A connection to one of the addresses ``host`` resolved to, all of them allowed."""
        addresses = await checked(host, port, self._allows)
        failure: Exception = httpcore.ConnectError(f"no address of {host} answered")
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                failure = error
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Never: a request's fetch has no business with local sockets."""
        raise AddressRefused(path)

    async def sleep(self, seconds: float) -> None:
        """Sleep as the wrapped backend does."""
        await self._inner.sleep(seconds)


class PinnedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport, every connection of which goes through a ``PinnedBackend``."""

    def __init__(self, backend: PinnedBackend) -> None:
        super().__init__(trust_env=False)
        # httpx has no argument for a network backend yet, so its pool is rebuilt with one
        # (certificates checked as httpx does; few connections: one client serves one fetch).
        # The tests prove every connection goes through the backend.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=10,
            network_backend=backend,
        )


class CheckedProxyTransport(httpx.AsyncHTTPTransport):
    """Through the proxy the operator configured: each request's host is resolved once and
    checked here, but the proxy connects by name (resolving it again), so the proxy has to
    enforce the same egress rules."""

    def __init__(self, proxy: str, allows: Callable[[str], bool]) -> None:
        super().__init__(proxy=proxy, trust_env=False)
        self._allows = allows

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` through the proxy once its host has passed the check."""
        port = request.url.port or (443 if request.url.scheme == "https" else 80)
        await checked(request.url.host, port, self._allows)
        return await super().handle_async_request(request)


def client(allowed: Iterable[str], timeout_s: float, proxy: str | None = None) -> httpx.AsyncClient:
    """A client for fetches on a request's behalf, direct or through the configured ``proxy``
    (never one from the environment); redirects are the caller's to follow."""
    allows = address_rule(allowed)
    transport: httpx.AsyncBaseTransport = (
        CheckedProxyTransport(proxy, allows) if proxy else PinnedTransport(PinnedBackend(allows))
    )
    return httpx.AsyncClient(
        transport=transport,
        trust_env=False,
        follow_redirects=False,
        timeout=timeout_s,
    )
