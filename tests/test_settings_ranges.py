"""Numeric settings outside the range that makes sense are refused at start-up, in one line that says what is
accepted, instead of making every video ``no_face`` or every image fail."""

from __future__ import annotations

import pytest

from core.settings import SettingsError, get_settings


@pytest.fixture
def environment(monkeypatch):
    get_settings.cache_clear()
    yield monkeypatch
    monkeypatch.undo()
    get_settings.cache_clear()


@pytest.mark.parametrize(("variable", "value", "accepted"), [
    ("DEEPFAKE_VIDEO_FRAMES", "0", "a whole number of at least 1"),
    ("DEEPFAKE_VIDEO_FRAMES", "-1", "a whole number of at least 1"),
    ("DEEPFAKE_VIDEO_FRAMES", "many", "a whole number of at least 1"),
    ("DEEPFAKE_MIN_FACE_CONFIDENCE", "5", "a number from 0 to 1"),
    ("DEEPFAKE_MIN_FACE_CONFIDENCE", "-0.1", "a number from 0 to 1"),
    ("DEEPFAKE_MAX_IMAGE_PIXELS", "0", "a whole number of at least 1"),
    ("DEEPFAKE_DETECT_MAX_SIDE", "0", "a whole number of at least 32"),
    ("DEEPFAKE_MAX_UPLOAD_BYTES", "-5", "a whole number of at least 1"),
    ("DEEPFAKE_WORKER_METRICS_PORT", "70000", "a whole number from 0 to 65535"),
    ("DEEPFAKE_HEARTBEAT_INTERVAL_S", "0", "a number above 0"),
    ("DEEPFAKE_URL_FETCH_TIMEOUT_S", "-1", "a number above 0"),
    ("DEEPFAKE_RETENTION_DAYS", "-1", "a number of at least 0"),
    ("DEEPFAKE_BULK_GROUP_SIZE", "0", "a whole number of at least 1"),
    ("DEEPFAKE_MAX_ATTEMPTS", "0", "a whole number of at least 1"),
    ("DEEPFAKE_DB_CONNECT_TIMEOUT_S", "0", "a whole number of at least 1"),
    ("DEEPFAKE_THREADS_PER_PROCESS", "-2", "a whole number of at least 0"),
    ("DATABASE_URL", "notaurl", "a database URL, e.g. postgresql+psycopg://"),
    ("DATABASE_URL", "foo://somewhere/db", "a database URL, e.g. postgresql+psycopg://"),
    ("REDIS_URL", "notaurl", "a Redis URL (redis://"),  # Celery would read it as an AMQP broker, for ever
    ("REDIS_URL", "http://127.0.0.1:6379/0", "a Redis URL (redis://"),
])
def test_a_value_out_of_range_is_one_line_saying_what_is_accepted(environment, variable, value, accepted):
    environment.setenv(variable, value)
    with pytest.raises(SettingsError) as raised:
        get_settings()
    assert str(raised.value).startswith(f"{variable}={value!r} is not valid: expected {accepted}"), raised.value
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(("variable", "value"), [
    ("DEEPFAKE_RATE_LIMIT_PER_SECOND", "0"),  # 0: no limit
    ("DEEPFAKE_RETENTION_DAYS", "0"),  # 0: kept until deleted
    ("DEEPFAKE_WORKER_METRICS_PORT", "0"),  # 0: not served
    ("DEEPFAKE_THREADS_PER_PROCESS", "0"),  # 0: a share of the cores
    ("DEEPFAKE_MIN_FACE_CONFIDENCE", "1"),
    ("DEEPFAKE_SEGMENT_RETRIES", "0"),
    ("DEEPFAKE_RESEND_GRACE_S", "0.2"),
    ("DATABASE_URL", "postgresql+psycopg://u@127.0.0.1:5432/db"),
])
def test_values_with_a_meaning_at_the_edge_are_kept(environment, variable, value):
    environment.setenv(variable, value)
    get_settings()


def test_an_empty_redis_url_means_the_embedded_broker(environment):
    environment.setenv("REDIS_URL", "")  # what a .env file with the line left blank gives
    assert get_settings().embedded and get_settings().redis_url is None
