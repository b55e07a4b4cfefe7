"""Client text that a text column can hold: Postgres refuses NUL characters and invalid UTF-8."""

from __future__ import annotations


def storable(value: str) -> bool:
    """No NUL, and encodable as UTF-8 (a JSON escape can produce a lone surrogate that is not)."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def made_storable(value: str | None) -> str | None:
    """``value`` with what a text column cannot hold replaced, so a refused item's row still shows it."""
    if value is None or storable(value):
        return value
    return value.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")
