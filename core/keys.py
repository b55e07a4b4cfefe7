"""API keys: creating, checking, listing and revoking them, and the scopes they carry.

A key is ``dfk_`` and 43 random URL-safe characters, shown once when it is made. Only its
sha256 is stored (a key is 256 random bits, so a slow password hash would add nothing), with its
first ``PREFIX_LENGTH`` characters in the clear to tell keys apart in listings and to find its
row without comparing every hash.

Key lifecycle: ``active`` ──revoke──▶ ``revoked`` (terminal: a revoked key never works again;
make a new one instead). Each move is one transaction.

Scopes:

| scope      | allows                                                                     |
|------------|----------------------------------------------------------------------------|
| `jobs`     | submit jobs and batches; read, export, cancel and delete its tenant's own  |
| `webhooks` | manage its tenant's webhook endpoints; redeliver its tenant's deliveries   |
| `admin`    | everything above, for every tenant                                         |
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.clock import now
from core.tables import DEFAULT_TENANT, ApiKey

JOBS, WEBHOOKS, ADMIN = "jobs", "webhooks", "admin"
SCOPES = (JOBS, WEBHOOKS, ADMIN)
DEFAULT_SCOPES = (JOBS,)
KEY_PREFIX = "dfk_"
PREFIX_LENGTH = 12  # "dfk_" and 8 random characters: enough to tell keys apart, far too few to guess one
ADMIN_KEY_FILE = "admin.key"


class KeyRequestError(ValueError):
    """A key cannot be made or changed as asked (unknown scope, bad tenant, no such key)."""


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's tenant and scopes. ``admin`` sees and may do everything."""

    key_id: str | None
    tenant: str
    scopes: frozenset[str]

    @property
    def admin(self) -> bool:
        return ADMIN in self.scopes

    def may(self, scope: str) -> bool:
        return self.admin or scope in self.scopes


# Who acts when authentication is turned off (loopback only, see ``api.auth``): one local operator.
LOCAL_OPERATOR = Principal(key_id=None, tenant=DEFAULT_TENANT, scopes=frozenset({ADMIN}))


@dataclass(frozen=True)
class NewKey:
    """A key just made: ``secret`` is the only copy of the key there will ever be."""

    row: ApiKey
    secret: str


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _checked_scopes(scopes: list[str] | tuple[str, ...]) -> list[str]:
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise KeyRequestError(f"scopes must be some of {', '.join(SCOPES)}; got {', '.join(scopes) or 'none'}")
    return sorted(set(scopes))


def _checked_tenant(tenant: str) -> str:
    if not tenant or len(tenant) > 64 or not all(c.isalnum() or c in "-_." for c in tenant):
        raise KeyRequestError("a tenant is 1-64 letters, digits, '-', '_' or '.'")
    return tenant


def create(session: Session, *, name: str, scopes: list[str] | tuple[str, ...] = DEFAULT_SCOPES,
           tenant: str = DEFAULT_TENANT) -> NewKey:
    """Make and commit a key. Raises ``KeyRequestError`` for an unknown scope or a malformed tenant."""
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(id=str(uuid.uuid4()), prefix=secret[:PREFIX_LENGTH], key_hash=_hash(secret), name=name,
                 tenant=_checked_tenant(tenant), scopes=_checked_scopes(scopes), created_at=now())
    session.add(row)
    session.commit()
    return NewKey(row, secret)


def authenticate(session: Session, presented: str) -> Principal | None:
    """The principal of an active key, or None for anything else (unknown, malformed, revoked)."""
    if not presented.startswith(KEY_PREFIX) or len(presented) < PREFIX_LENGTH:
        return None
    row = session.execute(select(ApiKey).where(ApiKey.prefix == presented[:PREFIX_LENGTH])).scalar_one_or_none()
    # Compared in constant time, and even for a revoked key, so timing tells nothing about which failed.
    if row is None or not hmac.compare_digest(row.key_hash, _hash(presented)) or row.revoked_at is not None:
        return None
    return Principal(key_id=row.id, tenant=row.tenant, scopes=frozenset(row.scopes))


def listed(session: Session) -> list[ApiKey]:
    """Every key, oldest first (hashes included: callers show only prefix, name, tenant, scopes, state)."""
    return list(session.execute(select(ApiKey).order_by(ApiKey.created_at)).scalars())


def revoke(session: Session, prefix: str) -> ApiKey:
    """active → revoked, committed; revoking a revoked key changes nothing. Raises ``KeyRequestError`` when no
    key has this prefix (a whole key is accepted too: only its prefix is read)."""
    row = session.execute(select(ApiKey).where(ApiKey.prefix == prefix[:PREFIX_LENGTH])
                          .with_for_update()).scalar_one_or_none()
    if row is None or len(prefix) < PREFIX_LENGTH:
        session.rollback()
        raise KeyRequestError(f"no key with prefix {prefix!r}")
    if row.revoked_at is None:
        row.revoked_at = now()
    session.commit()
    return row


def has_active_admin(session: Session) -> bool:
    rows = session.execute(select(ApiKey.scopes).where(ApiKey.revoked_at.is_(None))).scalars()
    return any(ADMIN in scopes for scopes in rows)


def ensure_admin_key(session: Session, data_dir: Path) -> Path | None:
    """First start: when no active admin key exists, make one and write it to ``data_dir/admin.key``,
    readable by this user only. Returns the file's path, or None when an admin key existed already."""
    if has_active_admin(session):
        return None
    new = create(session, name="admin (made by deepfake serve)", scopes=[ADMIN])
    return write_private(data_dir / ADMIN_KEY_FILE, new.secret + "\n")


def write_private(path: Path, text: str) -> Path:
    """Write ``text`` to a new file only its owner can read (mode 0600 from the start, never wider)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)  # an older file (a revoked key) is replaced, not reused with its mode
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path
