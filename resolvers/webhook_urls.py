"""Where a webhook may point: SSRF protection, at creation and again at each connection.

A webhook makes this server send requests to a URL an API user chose. Left alone, that
user could aim it at the cloud metadata service (169.254.169.254), a database on the
private network or the server's own loopback port, and read answers through delivery
errors. So a URL must be http(s), and every address its host resolves to must be public:
not loopback, private, link-local, multicast, reserved, unspecified, shared (CGNAT) or a
metadata address. The check at creation gives a clear field error; it is repeated at
each connection (`GuardedTransport`), because DNS can answer differently later (DNS
rebinding): the host is resolved, the addresses checked, and the connection made to the
checked address itself, with the Host header and TLS server name (SNI) of the URL, so no
second resolution can slip another address in. WEBHOOK_ALLOW_PRIVATE_NETWORKS=true lifts
the address rule (tests, closed networks); the scheme rule stays.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

import httpx

__all__ = ["GuardedTransport", "UrlRefused", "check_url", "refused_address", "resolve_allowed"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Named on their own as well: they are what an SSRF attack on a cloud host is after.
METADATA_ADDRESSES = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)


class UrlRefused(Exception):
    """The URL is not one a webhook may use; the message says why (safe to show)."""


def refused_address(address: IPAddress) -> str | None:
    """Why this address may not be reached, or None when it is public."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    for flag, kind in (
        (address.is_loopback, "a loopback"),
        (address.is_unspecified, "an unspecified"),
        (address.is_link_local, "a link-local"),
        (address.is_multicast, "a multicast"),
        (address.is_private, "a private"),
        (address.is_reserved, "a reserved"),
    ):
        if flag:
            return f"{kind} address"
    if not address.is_global:
        return "not a public address"
    return None


def split_url(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an http(s) URL with a host, or UrlRefused."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UrlRefused(f"not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise UrlRefused("only http and https URLs are accepted")
    if not parts.hostname:
        raise UrlRefused("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise UrlRefused("credentials in the URL are not accepted: put them in its path")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


async def resolve_allowed(host: str, port: int, *, allow_private: bool) -> IPAddress:
    """The address to connect to: every address of `host` must be allowed (one bad
    answer refuses the host, so a round-robin cannot smuggle one in)."""
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses: list[IPAddress] = [literal]
    else:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
        except (OSError, UnicodeError) as exc:
            raise UrlRefused(f"the host {host!r} does not resolve ({exc})") from None
        addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
        if not addresses:
            raise UrlRefused(f"the host {host!r} does not resolve")
    if not allow_private:
        for address in addresses:
            reason = refused_address(address)
            if reason is not None:
                raise UrlRefused(f"the host {host!r} resolves to {address}, {reason}")
    return addresses[0]


async def check_url(url: str, *, allow_private: bool) -> None:
    """Refuse (UrlRefused) a URL a webhook may not use; resolves its host unless
    private networks are allowed (then any host goes, checked again at connect time)."""
    _, host, port = split_url(url)
    if not allow_private:
        await resolve_allowed(host, port, allow_private=False)


class GuardedTransport(httpx.AsyncBaseTransport):
    """An httpx transport that connects only to checked addresses (see the module
    docstring): the request goes to the resolved, checked IP, with the URL's Host header
    and its TLS server name, so certificates are verified against the real host name."""

    def __init__(self, *, allow_private: bool) -> None:
        self._allow_private = allow_private
        self._inner = httpx.AsyncHTTPTransport(retries=0)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme not in ("http", "https") or not url.host:
            raise UrlRefused("only http and https URLs are accepted")
        port = url.port or (443 if url.scheme == "https" else 80)
        address = await resolve_allowed(url.host, port, allow_private=self._allow_private)
        request.url = url.copy_with(host=str(address))
        request.headers["Host"] = url.netloc.decode("ascii")
        if url.scheme == "https":
            request.extensions = {**request.extensions, "sni_hostname": url.host}
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()
