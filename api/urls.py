"""Checks on client-supplied URLs made at submit time, so a bad one is a 422, not a silent failure later."""

from __future__ import annotations

from api.errors import ApiError
from core.netguard import BadScheme, ForbiddenURL, Unresolvable, check_url
from core.settings import Settings


def check_receiver_url(url: str, settings: Settings) -> str:
    """A webhook receiver must be http(s), at most ``max_url_length`` long, and resolve to public addresses
    (unless ``webhook_allow_private``). Raises ``ApiError``: 422 ``forbidden_url`` (naming the setting, for
    someone testing on their own machine), 422 ``invalid_request`` for a host that does not resolve."""
    if len(url) > settings.max_url_length:
        raise ApiError(422, "invalid_request", f"the URL is longer than {settings.max_url_length} characters")
    try:
        check_url(url, settings.webhook_allow_private)
    except BadScheme as exc:  # no setting changes this one: the hint below would send people looking for one
        raise ApiError(422, "forbidden_url", f"{url}: {exc}: give the receiver's http:// or https:// address") \
            from exc
    except ForbiddenURL as exc:
        raise ApiError(422, "forbidden_url", f"{url}: {exc}: receivers must be public http(s) addresses; "
                       "WEBHOOK_ALLOW_PRIVATE=true lets loopback and private ones in (local testing)") from exc
    except Unresolvable as exc:
        raise ApiError(422, "invalid_request", f"{url}: {exc}") from exc
    return url
