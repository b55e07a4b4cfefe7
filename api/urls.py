"""Checks on client-supplied URLs made at submit time, so a bad one is a 422, not a silent failure later."""

from __future__ import annotations

from api.errors import ApiError
from core.netguard import ForbiddenURL, check_url


def check_receiver_url(url: str, allow_private: bool) -> str:
    """A webhook receiver must be http(s) and resolve to public addresses (unless allowed)."""
    try:
        check_url(url, allow_private)
    except ForbiddenURL as exc:
        raise ApiError(422, "forbidden_url", f"{url}: {exc}") from exc
    return url
