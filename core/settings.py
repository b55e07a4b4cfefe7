"""One typed settings object, read from the environment once.

With nothing set, everything is embedded: a SQLite file and a media folder
under ``DEEPFAKE_DATA_DIR`` and a file-system broker, so ``deepfake serve``
needs no server. ``DATABASE_URL``, ``REDIS_URL`` and ``S3_BUCKET`` switch to
Postgres, Redis and S3.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DEEPFAKE_", extra="ignore")

    data_dir: Path = Field(Path("data"), validation_alias=_env("DEEPFAKE_DATA_DIR"))
    database_url: str | None = Field(None, validation_alias=_env("DATABASE_URL", "DEEPFAKE_DATABASE_URL"))
    redis_url: str | None = Field(None, validation_alias=_env("REDIS_URL", "DEEPFAKE_REDIS_URL"))

    s3_bucket: str | None = Field(None, validation_alias=_env("S3_BUCKET", "DEEPFAKE_S3_BUCKET"))
    s3_prefix: str = Field("media/", validation_alias=_env("S3_PREFIX", "DEEPFAKE_S3_PREFIX"))
    s3_endpoint_url: str | None = Field(None, validation_alias=_env("S3_ENDPOINT_URL", "DEEPFAKE_S3_ENDPOINT_URL"))
    s3_region: str | None = Field(None, validation_alias=_env("S3_REGION", "AWS_DEFAULT_REGION"))

    model_path: Path | None = None  # DEEPFAKE_MODEL_PATH: a model directory or MesoNet .h5; None = shipped default
    max_upload_bytes: int = 50 * 1024 * 1024
    max_image_pixels: int = 50_000_000
    min_face_confidence: float = 0.6
    detect_max_side: int = 640
    min_face_size: int = 24
    classify_batch_size: int = 32

    url_fetch_timeout_s: float = 20.0
    allow_private_urls: bool = False  # let url jobs fetch from loopback/private addresses (tests, intranets)

    tf_intra_op_threads: int = 0  # 0 = TensorFlow decides
    tf_inter_op_threads: int = 0
    max_attempts: int = 3  # a job whose worker died this many times fails as worker_lost
    visibility_timeout_s: int = 3600  # over the longest job; Redis redelivers unacked jobs after it

    @field_validator("s3_prefix")
    @classmethod
    def _prefix_ends_with_slash(cls, v: str) -> str:
        return v if not v or v.endswith("/") else v + "/"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'deepfake.db').resolve()}"

    @property
    def broker_url(self) -> str:
        return self.redis_url or "filesystem://"

    @property
    def broker_dir(self) -> Path:
        return self.data_dir / "broker"

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"

    @property
    def embedded(self) -> bool:
        return self.redis_url is None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
