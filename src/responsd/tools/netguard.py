"""The outbound guard: URLs fetched on a user's behalf never reach private networks.

Every address a host name resolves to is checked, at connect time, by the network backend
of the HTTP client the tool uses, and the connection goes to the address that was checked:
so a redirect to a private host, or a name that resolves to a public address when checked
and to a private one later (DNS rebinding), is refused too. `check_url` runs the same check
before a response starts, so a bad URL is a plain 400 naming the field.
"""

import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

import anyio
import httpcore2
import httpx2
from httpcore2._backends.auto import AutoBackend

from responsd.errors import InvalidRequestError


class PrivateAddressError(httpcore2.ConnectError):
    """A connection to a loopback, private, link-local or otherwise non-public address."""


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    # is_global excludes loopback, RFC 1918, link-local (169.254.0.0/16: cloud metadata),
    # CGNAT, unique-local IPv6 and the reserved ranges.
    return ip.is_global and not ip.is_multicast


async def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise httpcore2.ConnectError(f"could not resolve '{host}': {exc}") from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def public_address(host: str, port: int) -> str:
    """The first address of `host`, refusing the host if any of its addresses is not public."""
    addresses = await _resolve(host, port)
    private = [a for a in addresses if not is_public(a)]
    if private or not addresses:
        raise PrivateAddressError(
            f"'{host}' resolves to a non-public address ({', '.join(private) or 'none'})"
        )
    return addresses[0]


class GuardedBackend(AutoBackend):
    """Connects only to public addresses (unless private ones are allowed)."""

    def __init__(self, allow_private: bool = False) -> None:
        super().__init__()
        self.allow_private = allow_private

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's signature)
        local_address: str | None = None,
        socket_options: Iterable | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        if not self.allow_private:
            host = await public_address(host, port)
        return await super().connect_tcp(host, port, timeout, local_address, socket_options)

    async def connect_unix_socket(self, *args, **kwargs):  # never reachable from a URL
        raise PrivateAddressError("unix sockets are not reachable from tool URLs")


def guarded_client(
    allow_private: bool,
    headers: dict[str, str] | None = None,
    timeout: httpx2.Timeout | None = None,
    auth: httpx2.Auth | None = None,
) -> httpx2.AsyncClient:
    """An httpx2 client (the MCP SDK's) whose every connection passes the guard."""
    transport = httpx2.AsyncHTTPTransport(trust_env=False)
    # httpx2 exposes no network_backend argument; its pool is the one place to put it.
    transport._pool._network_backend = GuardedBackend(allow_private)
    return httpx2.AsyncClient(
        transport=transport, headers=headers, timeout=timeout, auth=auth, trust_env=False
    )


async def check_url(url: str | None, param: str, allow_private: bool) -> None:
    """400 naming `param` unless `url` is an http(s) URL of a public host."""
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidRequestError(f"{param} must be an http(s) URL.", param=param)
    if allow_private:
        return
    try:
        await public_address(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
    except PrivateAddressError as exc:
        raise InvalidRequestError(
            f"{param} is not reachable from this server: {exc}. Tools may only reach public "
            "addresses (the operator can allow private ones with "
            "RESPONSD_ALLOW_PRIVATE_NETWORK=true).",
            param=param,
        ) from exc
    except httpcore2.ConnectError:
        pass  # unresolvable now: the connection fails later as an unreachable server would
