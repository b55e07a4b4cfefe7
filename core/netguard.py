"""Refuse URLs that point into our own network (SSRF), and connect only where the check looked.

Media URLs and webhook receivers come from clients; fetching one must not reach loopback, private,
link-local or cloud-metadata addresses unless a setting allows it. The check resolves the host once;
the request then goes to that exact address (``pinned``), with the original Host header and TLS
server name, so a DNS answer that changes between the check and the connection (DNS rebinding) is
never used. Refusals say "refused" (the caller adds the setting that lifts it) and nothing more: what an
internal address is, or what an internal service would answer, is not something a caller can learn from us.

A host that does not resolve at all is ``Unresolvable``, not a refusal: a mistyped or expired domain is
the caller's to fix (a URL job fails ``fetch_failed``), and calling it "refused" sent people looking
for a setting. The price: a caller can tell a name our resolver does not know from one that resolves
to a private address.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

Resolver = Callable[..., list]  # socket.getaddrinfo's shape; tests inject their own


class ForbiddenURL(ValueError):
    pass


class BadScheme(ForbiddenURL):
    """Not an http(s) URL with a host (``ftp://``, ``file://``, ``https:///x``): no setting lets it in."""


class Unresolvable(ValueError):
    """The URL's host has no address (no such name, or DNS did not answer)."""


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def check_url(url: str, allow_private: bool = False, resolve: Resolver | None = None) -> list[str]:
    """Resolve the URL's host once; return its addresses, sorted. Raises ``ForbiddenURL`` (``BadScheme``: not
    http(s) with a host; else an address that is not public) or ``Unresolvable``."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadScheme("only http and https URLs with a host are accepted")
    try:
        infos = (resolve or socket.getaddrinfo)(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80),
                                                type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise Unresolvable(f"the host {parts.hostname} does not resolve") from exc
    addresses = sorted({info[4][0] for info in infos})
    if not addresses:
        raise Unresolvable(f"the host {parts.hostname} does not resolve")
    if not allow_private and not all(_is_public(a) for a in addresses):
        raise ForbiddenURL("refused")
    return addresses


def pinned(url: str, address: str) -> tuple[str, dict[str, str], dict]:
    """The URL rewritten to connect to ``address``, the Host header to send, and the TLS server name
    (an httpx request extension), so the certificate is still checked against the URL's host."""
    parts = urlsplit(url)
    host = f"[{address}]" if ":" in address else address
    netloc = f"{host}:{parts.port}" if parts.port else host
    extensions = {"sni_hostname": parts.hostname} if parts.scheme == "https" else {}
    return urlunsplit(parts._replace(netloc=netloc)), {"host": parts.netloc.rsplit("@", 1)[-1]}, extensions
