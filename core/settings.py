"""One typed settings object, read from the environment once.

With nothing set, everything is embedded: a SQLite file and a media folder
under ``DEEPFAKE_DATA_DIR`` and a file-system broker, so ``deepfake serve``
needs no server. ``DATABASE_URL``, ``REDIS_URL`` and ``S3_BUCKET`` switch to
Postgres, Redis and S3.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


# The ranges numeric settings must fall in: outside them a value is refused at start-up (one line saying what
# is accepted, see ``settings_error``) rather than making every job fail or every face vanish.
Count = Annotated[int, Field(ge=1)]  # how many of something: zero would do nothing at all
ZeroOrMore = Annotated[int, Field(ge=0)]  # 0 has a meaning (none, off, automatic) said beside the setting
Seconds = Annotated[float, Field(gt=0)]  # a timeout or an interval: zero would never wait or spin
SecondsOrOff = Annotated[float, Field(ge=0)]  # 0 has a meaning said beside the setting
Fraction = Annotated[float, Field(ge=0, le=1)]  # a probability
Port = Annotated[int, Field(ge=0, le=65535)]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DEEPFAKE_", extra="ignore")

    data_dir: Path = Field(Path("data"), validation_alias=_env("DEEPFAKE_DATA_DIR"))
    database_url: str | None = Field(None, validation_alias=_env("DATABASE_URL", "DEEPFAKE_DATABASE_URL"))
    redis_url: str | None = Field(None, validation_alias=_env("REDIS_URL", "DEEPFAKE_REDIS_URL"))

    s3_bucket: str | None = Field(None, validation_alias=_env("S3_BUCKET", "DEEPFAKE_S3_BUCKET"))
    s3_prefix: str = Field("media/", validation_alias=_env("S3_PREFIX", "DEEPFAKE_S3_PREFIX"))
    s3_endpoint_url: str | None = Field(None, validation_alias=_env("S3_ENDPOINT_URL", "DEEPFAKE_S3_ENDPOINT_URL"))
    s3_region: str | None = Field(None, validation_alias=_env("S3_REGION", "AWS_DEFAULT_REGION"))

    # DEEPFAKE_S3_ALLOWED: "bucket" or "bucket/prefix" entries, comma-separated, that s3_uri/s3_prefix sources
    # may name; unset: the configured bucket (see core.sources). The service's own S3_PREFIX is never readable.
    s3_allowed: str | None = None
    # boto3 may ask the cloud's instance-metadata address for credentials only when this says so: a
    # deployment without S3 (or with keys in the environment) must not make that request on a client's behalf.
    s3_instance_metadata: bool = False

    # DEEPFAKE_AUTH: "on" (API keys on every /v1 route) or "off", allowed only while the API listens on
    # loopback (api.auth refuses to start it otherwise, and refuses requests from elsewhere).
    auth: Literal["on", "off"] = "on"
    max_json_bytes: Count = 1024 * 1024  # JSON request bodies over this get 413 (uploads have max_upload_bytes)
    max_header_bytes: Count = 16 * 1024  # request headers, all together, over this get 431
    max_url_length: Count = 2048  # media, callback and webhook URLs longer than this get 422
    # Per API key: a bucket of rate_limit_burst requests refilled at rate_limit_per_second (0: no limit).
    # The default leaves room for `deepfake backlog submit` (~50 uploads/s measured) and its polling.
    rate_limit_per_second: SecondsOrOff = 100.0
    rate_limit_burst: Count = 200
    # DEEPFAKE_RETENTION_DAYS: finished jobs' media and results are purged this long after they ended
    # (0: kept until deleted); the beat looks every retention_interval_s.
    retention_days: SecondsOrOff = 0.0
    retention_interval_s: Seconds = 3600.0

    # DEEPFAKE_MODEL_PATH: "fast", a model directory or MesoNet .h5; None = the shipped default.
    model_path: Path | None = None
    # DEEPFAKE_INFERENCE_RUNTIME: "auto" runs a model's ONNX export with ONNX Runtime (~1.5x faster on
    # CPU, same outputs within 1e-4) when it has one; "keras" always uses TensorFlow; "onnx" insists;
    # "onnx-int8" runs the int8 quantization (pipeline/quantize.py): faster, scores differ a little.
    inference_runtime: Literal["auto", "onnx", "onnx-int8", "keras"] = "auto"
    max_upload_bytes: Count = 200 * 1024 * 1024  # videos included; images are also held to max_image_pixels
    max_image_pixels: Count = 50_000_000
    min_face_confidence: Fraction = 0.6
    detect_max_side: Annotated[int, Field(ge=32)] = 640
    min_face_size: Count = 24
    classify_batch_size: Count = 32
    # Bulk items travel to workers this many per message: one transaction starts them, one finishes
    # them, their media is fetched in parallel and their faces share model calls. 1 turns this off.
    bulk_group_size: Count = 16
    fetch_threads: Count = 8  # media downloads in flight per worker process on the bulk lane
    video_max_duration_s: Seconds = 600.0
    video_max_pixels: Count = 3840 * 2160
    video_frames: Count = 32  # frames sampled per video, spread over its length
    video_max_frames_per_second: Seconds = 4.0
    video_split_over_s: Seconds = 120.0  # longer videos are split into segments analysed in parallel
    video_segment_s: Seconds = 60.0
    segment_retries: ZeroOrMore = 2

    url_fetch_timeout_s: Seconds = 20.0
    url_max_redirects: ZeroOrMore = 3  # each hop is checked like the first URL
    url_fetch_max_s: Seconds = 300.0  # a whole media download, however slowly its server answers
    allow_private_urls: bool = False  # let url jobs fetch from loopback/private addresses (tests, intranets)

    # Webhooks: private receivers only when allowed; the retry schedule in seconds after each failure.
    webhook_allow_private: bool = Field(False, validation_alias=_env("WEBHOOK_ALLOW_PRIVATE",
                                                                      "DEEPFAKE_WEBHOOK_ALLOW_PRIVATE"))
    webhook_retry_schedule: str = Field("0,5,300,1800,7200,18000,36000,50400,72000,86400",
                                        validation_alias=_env("WEBHOOK_RETRY_SCHEDULE",
                                                              "DEEPFAKE_WEBHOOK_RETRY_SCHEDULE"))
    webhook_timeout_s: Seconds = 10.0
    webhook_secret: str | None = None  # signs callback_url deliveries; generated and stored when unset
    webhook_dispatch_interval_s: Seconds = 5.0
    webhook_secret_grace_s: ZeroOrMore = 24 * 3600  # how long a rotated-out endpoint secret still signs
    public_url: str = "http://127.0.0.1:8000"  # base of the job links sent in webhook payloads

    # Threads each worker process gives the detector, OpenCV and TensorFlow. 0: the machine's cores
    # divided among the worker's processes (--concurrency), so children never oversubscribe the cores.
    threads_per_process: ZeroOrMore = 0
    tf_intra_op_threads: ZeroOrMore = 0  # 0 = threads_per_process
    tf_inter_op_threads: ZeroOrMore = 0  # 0 = TensorFlow decides
    ingest_rate: Seconds = 1000.0  # batch items queued per second at most, per ingesting batch
    dispatch_interval_s: Seconds = 10.0  # how often the beat looks for batch items no message has carried
    dispatch_grace_s: SecondsOrOff = 30.0  # how long an item may wait for its group (open batches) before it goes alone
    max_queue_depth: Count = 100_000  # past this many queued jobs on a lane, submissions get 429
    max_attempts: Count = 3  # a job whose worker died this many times fails as worker_lost
    visibility_timeout_s: Count = 3600  # over the longest job; Redis redelivers unacked jobs after it

    # Database outages: a request answers 503 database_unavailable (Retry-After: db_retry_after_s) within
    # these, never hangs; a task retries with backoff. Postgres only (SQLite waits on its own lock).
    db_connect_timeout_s: Count = 3  # a new connection (libpq's connect_timeout, whole seconds)
    db_pool_timeout_s: Seconds = 5.0  # waiting for a pooled connection when all are in use
    db_statement_timeout_s: SecondsOrOff = 30.0  # one statement, enforced by the server (0: none)
    db_retry_after_s: ZeroOrMore = 5

    # Recovery (the beat, ``workers.recovery``): a running job's worker writes ``heartbeat_at`` every
    # heartbeat_interval_s; past heartbeat_timeout_s without one the job is given back to the queue (or fails
    # worker_lost after max_attempts). A queued job whose message is nowhere in the broker for resend_grace_s
    # is sent again. The beat looks every recover_interval_s.
    heartbeat_interval_s: Seconds = 10.0
    heartbeat_timeout_s: Seconds = 60.0
    resend_grace_s: SecondsOrOff = 60.0
    recover_interval_s: Seconds = 15.0
    # Each worker process keeps its temporary media copies in its own folder under this one; folders of
    # processes that are gone are removed when a worker process starts.
    work_dir: Path | None = None  # None: <system temp>/deepfake-work
    # A worker's parent serves its processes' metrics (core.metrics) on this port; 0: not served. Workers sit
    # inside the trust boundary: bind beyond loopback only on a private network.
    worker_metrics_port: Port = 0
    worker_metrics_host: str = "127.0.0.1"

    @field_validator("s3_prefix")
    @classmethod
    def _prefix_ends_with_slash(cls, v: str) -> str:
        return v if not v or v.endswith("/") else v + "/"

    @field_validator("database_url")
    @classmethod
    def _database_url_parses(cls, v: str | None) -> str | None:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            v is None or make_url(v).get_dialect()  # an unknown database (foo://) too, not only garbage
        except (ArgumentError, ValueError):
            raise ValueError("a database URL, e.g. postgresql+psycopg://user@host:5432/deepfake") from None
        return v

    @field_validator("redis_url")
    @classmethod
    def _redis_url_is_redis(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None  # unset or left empty (as .env files do): the embedded broker
        # Celery would read anything else as an AMQP broker and retry it for ever.
        if not v.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("a Redis URL (redis://host:6379/0, rediss://... or unix://...), or unset for the "
                             "embedded broker")
        return v

    @field_validator("webhook_retry_schedule")
    @classmethod
    def _schedule_is_numbers(cls, v: str) -> str:
        try:
            delays = [float(x) for x in v.split(",") if x.strip()]
        except ValueError:
            delays = []
        if not delays or any(d < 0 for d in delays):
            raise ValueError("comma-separated non-negative seconds, e.g. 0,5,300")
        return v

    @property
    def retry_delays(self) -> list[float]:
        return [float(x) for x in self.webhook_retry_schedule.split(",") if x.strip()]

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


class SettingsError(ValueError):
    """A variable in the environment holds a value the service cannot use. Its message is one line naming
    each such variable, the value and what it accepts; front ends print it instead of pydantic's report."""


# What a variable of each kind accepts, by pydantic's error type; others use pydantic's own words.
_ACCEPTS = {"int_parsing": "a whole number", "int_from_float": "a whole number", "float_parsing": "a number",
            "bool_parsing": "true or false (also 1/0, yes/no, on/off)", "path_type": "a path"}
_NUMERIC_ERRORS = {"int_parsing", "int_from_float", "float_parsing", "greater_than", "greater_than_equal",
                   "less_than", "less_than_equal", "finite_number"}


def _variable(field: str) -> str:
    """The environment variable a field (or an alias pydantic reports instead) is read from."""
    info = Settings.model_fields.get(field)
    if info is None:
        return field  # pydantic reports an aliased field under the alias it read
    if isinstance(info.validation_alias, AliasChoices):
        return str(info.validation_alias.choices[0])
    return f"{Settings.model_config.get('env_prefix', '')}{field}".upper()


def _number(value: float) -> str:
    return f"{value:g}"


def _range(field: str) -> str | None:
    """What a numeric field accepts, from its bounds: "a whole number of at least 1", "a number from 0 to 1"."""
    info = Settings.model_fields.get(field)
    if info is None or info.annotation not in (int, float):
        return None
    kind = "a whole number" if info.annotation is int else "a number"
    bounds = {name: getattr(m, name) for m in info.metadata for name in ("ge", "gt", "le") if hasattr(m, name)}
    low = (f"from {_number(bounds['ge'])}" if "ge" in bounds else f"above {_number(bounds['gt'])}"
           if "gt" in bounds else None)
    if low and "le" in bounds:
        return f"{kind} {low} to {_number(bounds['le'])}"
    if "ge" in bounds:
        return f"{kind} of at least {_number(bounds['ge'])}"
    return f"{kind} {low}" if low else None


def _accepted(field: str, error: dict) -> str:
    if error["type"] in _NUMERIC_ERRORS and (bounded := _range(field)):
        return bounded
    if error["type"] == "literal_error":
        return str(error["ctx"]["expected"])
    if error["type"] == "value_error":
        return str(error["ctx"]["error"])
    return _ACCEPTS.get(error["type"]) or error["msg"].removeprefix("Input should be ")


def settings_error(exc: ValidationError) -> SettingsError:
    """One line for every bad variable: ``NAME='value' is not valid: expected ...``."""
    fields = [str(e["loc"][0]) if e["loc"] else "?" for e in exc.errors()]
    parts = [f"{_variable(field)}={e['input']!r} is not valid: expected {_accepted(field, e)}"
             for field, e in zip(fields, exc.errors(), strict=True)]
    return SettingsError("; ".join(parts))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings, read once. Raises ``SettingsError`` (one line) when a variable holds a bad value."""
    try:
        return Settings()
    except ValidationError as exc:
        raise settings_error(exc) from None
