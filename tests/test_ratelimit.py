"""Per-key rate limits: a token bucket in Redis (in this process on the embedded default), 429 past it."""

from __future__ import annotations

import pytest

from core import db, ratelimit
from core.settings import Settings
from tests.api_client import make_client


@pytest.fixture
def tight_limits(clean_db, monkeypatch):
    """Three requests at once, then one every two seconds, per key."""
    monkeypatch.setenv("DEEPFAKE_RATE_LIMIT_PER_SECOND", "0.5")
    monkeypatch.setenv("DEEPFAKE_RATE_LIMIT_BURST", "3")
    db.reset()
    yield
    db.reset()


def test_past_the_burst_a_key_gets_429_with_the_headers(tight_limits):
    with make_client() as client, make_client() as other:
        answers = [client.get("/v1/jobs/x") for _ in range(4)]
        assert other.get("/v1/jobs/x").status_code == 404  # every key has its own bucket
    assert [r.status_code for r in answers] == [404, 404, 404, 429]
    assert [r.headers["ratelimit-remaining"] for r in answers] == ["2", "1", "0", "0"]
    refused = answers[-1]
    assert refused.json()["error"]["code"] == "rate_limited"
    assert refused.headers["retry-after"] == "2" and refused.headers["ratelimit-limit"] == "3"
    assert int(refused.headers["ratelimit-reset"]) == 6


def test_the_bucket_lives_in_redis_shared_by_every_api_process(tight_limits):
    import redis

    from core.settings import get_settings

    with make_client() as client:
        client.get("/v1/jobs/x")
    keys = redis.Redis.from_url(get_settings().redis_url).keys("deepfake:ratelimit:*")
    assert len(keys) == 1


def test_in_process_buckets_refill_with_time():
    now = [0.0]
    buckets = ratelimit.LocalBuckets(clock=lambda: now[0])
    assert [buckets.take("k", 2, 0.5)[0] for _ in range(3)] == [True, True, False]
    now[0] += 2.0
    assert buckets.take("k", 2, 0.5)[0] and not buckets.take("k", 2, 0.5)[0]
    assert buckets.take("other", 2, 0.5)[0]


def test_the_embedded_default_limits_in_process():
    ratelimit.forget()
    settings = Settings(redis_url=None, rate_limit_per_second=1, rate_limit_burst=1)
    first, second = ratelimit.take(settings, "k"), ratelimit.take(settings, "k")
    assert first.allowed and not second.allowed and second.headers()["Retry-After"] == "1"
    assert ratelimit.take(Settings(redis_url=None, rate_limit_per_second=0), "k") is None  # 0: no limit
    ratelimit.forget()
