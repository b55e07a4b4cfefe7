"""Checks on client-supplied URLs made at submit time, so a bad one is a 422, not a silent failure later."""

from __future__ import annotations

from api.errors import ApiError
from core.netguard import ForbiddenURL, check_url
from core.settings import Settings


def check_receiver_url(url: str, settings: Settings) -> str:
    """A webhook receiver must be http(s), at most ``max_url_length`` long, and resolve to public addresses
    (unless ``webhook_allow_private``)."""
    if len(url) > settings.max_url_length:
        raise ApiError(422, "invalid_request", f"the URL is longer than {settings.max_url_length} characters")
    try:
        check_url(url, settings.webhook_allow_private)
    except ForbiddenURL as exc:
        raise ApiError(422, "forbidden_url", f"{url}: {exc}") from exc
    return url
