"""Dependencies: the one place request handlers get settings, sessions and the blob store."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends
from sqlalchemy.orm import Session

from core.blobs import BlobStore, default_blob_store
from core.db import session_factory
from core.settings import Settings, get_settings


def get_session() -> Iterator[Session]:
    session = session_factory()()
    try:
        yield session
    finally:
        session.close()


def get_blob_store() -> BlobStore:
    return default_blob_store()


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
BlobStoreDep = Annotated[BlobStore, Depends(get_blob_store)]
