"""Standard Webhooks signatures (https://www.standardwebhooks.com), standard library only.

Senders sign ``{webhook-id}.{webhook-timestamp}.{body}`` with HMAC-SHA256 and
send ``webhook-signature: v1,<base64>`` (several, space-separated, while a
secret is being rotated). Receivers can copy this file or import ``verify``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets as _secrets
import time
from collections.abc import Iterable, Mapping

PREFIX = "whsec_"
TOLERANCE_S = 5 * 60


class InvalidSignature(Exception):
    pass


def generate_secret(n_bytes: int = 32) -> str:
    return PREFIX + base64.b64encode(_secrets.token_bytes(n_bytes)).decode()


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(PREFIX))


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_header(secrets: Iterable[str], msg_id: str, timestamp: int, body: bytes) -> str:
    return " ".join(sign(s, msg_id, timestamp, body) for s in secrets)


def verify(secret: str, headers: Mapping[str, str], body: bytes, tolerance_s: int = TOLERANCE_S,
           now: float | None = None) -> None:
    """Raise ``InvalidSignature`` unless one of the header's signatures matches and is fresh."""
    headers = {k.lower(): v for k, v in headers.items()}
    try:
        msg_id, timestamp = headers["webhook-id"], int(headers["webhook-timestamp"])
        offered = headers["webhook-signature"].split()
    except (KeyError, ValueError) as exc:
        raise InvalidSignature("missing or malformed webhook headers") from exc
    if abs((now if now is not None else time.time()) - timestamp) > tolerance_s:
        raise InvalidSignature("timestamp outside the tolerance window")
    expected = sign(secret, msg_id, timestamp, body)
    if not any(hmac.compare_digest(expected, candidate) for candidate in offered):
        raise InvalidSignature("no signature matches")
