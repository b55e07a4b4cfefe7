"""Refuse URLs that point into our own network (SSRF).

Media URLs come from clients; fetching one must not reach loopback, private,
link-local or cloud-metadata addresses unless a setting allows it.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit


class ForbiddenURL(ValueError):
    pass


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def check_url(url: str, allow_private: bool = False) -> list[str]:
    """Resolve the URL's host; return its addresses or raise ``ForbiddenURL``."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ForbiddenURL("only http and https URLs with a host are accepted")
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80),
                                   type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ForbiddenURL(f"cannot resolve {parts.hostname}") from exc
    addresses = sorted({info[4][0] for info in infos})
    if not allow_private and not all(_is_public(a) for a in addresses):
        raise ForbiddenURL(f"{parts.hostname} resolves to a non-public address")
    return addresses
