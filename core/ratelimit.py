"""Per-key request rate limits: one token bucket per API key.

A bucket holds up to ``rate_limit_burst`` tokens and refills at ``rate_limit_per_second``; each request
takes one. With Redis (``REDIS_URL``) the bucket lives there, so every API process and host shares it,
and one Lua script reads, refills and takes in one step on Redis's own clock. On the embedded default
(no Redis) it lives in this process. ``rate_limit_per_second = 0`` turns limits off.

Redis unreachable: the request is let through (and logged). Limits protect capacity; they are not worth
refusing every caller for, and the submission routes answer 503 on their own when the queue is down.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from functools import lru_cache

from core.settings import Settings

log = logging.getLogger(__name__)

# KEYS[1] the bucket; ARGV capacity, tokens per second. Returns {allowed (0|1), tokens left as a string}.
_TAKE = """
local capacity, rate = tonumber(ARGV[1]), tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or capacity
local at = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - at) * rate)
local allowed = 0
if tokens >= 1 then tokens = tokens - 1; allowed = 1 end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(capacity / rate) + 1)
return {allowed, tostring(tokens)}
"""


@dataclass(frozen=True)
class Decision:
    """One request's outcome, with what the RateLimit-* and Retry-After headers say."""

    allowed: bool
    limit: int  # the bucket's size
    remaining: int  # whole tokens left
    reset_s: int  # seconds until the bucket is full again
    retry_after_s: int  # seconds until the next token (0 when allowed)

    def headers(self) -> dict[str, str]:
        found = {"RateLimit-Limit": str(self.limit), "RateLimit-Remaining": str(self.remaining),
                 "RateLimit-Reset": str(self.reset_s)}
        return {**found, "Retry-After": str(self.retry_after_s)} if not self.allowed else found


def _decision(allowed: bool, tokens: float, capacity: int, rate: float) -> Decision:
    return Decision(allowed, capacity, int(tokens), math.ceil((capacity - tokens) / rate),
                    0 if allowed else max(1, math.ceil((1 - tokens) / rate)))


class LocalBuckets:
    """Token buckets in this process (the embedded default): the same arithmetic as the Lua script."""

    def __init__(self, clock=time.monotonic):
        self._clock, self._lock, self._buckets = clock, threading.Lock(), {}

    def take(self, name: str, capacity: int, rate: float) -> tuple[bool, float]:
        with self._lock:
            now = self._clock()
            tokens, at = self._buckets.get(name, (float(capacity), now))
            tokens = min(capacity, tokens + max(0.0, now - at) * rate)
            allowed = tokens >= 1
            tokens -= 1 if allowed else 0
            self._buckets[name] = (tokens, now)
            return allowed, tokens


class RedisBuckets:
    def __init__(self, url: str):
        import redis

        self._script = redis.Redis.from_url(url, socket_timeout=2).register_script(_TAKE)

    def take(self, name: str, capacity: int, rate: float) -> tuple[bool, float]:
        allowed, tokens = self._script(keys=[f"deepfake:ratelimit:{name}"], args=[capacity, rate])
        return bool(allowed), float(tokens)


@lru_cache(maxsize=4)
def _buckets(redis_url: str | None) -> LocalBuckets | RedisBuckets:
    return RedisBuckets(redis_url) if redis_url else LocalBuckets()


def take(settings: Settings, key_name: str) -> Decision | None:
    """Take one token from ``key_name``'s bucket; None when limits are off or the store cannot be reached."""
    if settings.rate_limit_per_second <= 0:
        return None
    capacity, rate = max(1, settings.rate_limit_burst), settings.rate_limit_per_second
    try:
        allowed, tokens = _buckets(settings.redis_url).take(key_name, capacity, rate)
    except Exception as exc:  # see the module docstring: fail open
        log.warning("rate limit store unavailable, request let through: %s", exc.__class__.__name__)
        return None
    return _decision(allowed, tokens, capacity, rate)


def forget() -> None:
    """Drop the cached bucket stores (``core.db.reset``: new settings, or a forked child)."""
    _buckets.cache_clear()
