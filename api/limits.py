"""Request size limits, applied before any route runs: headers (431) and non-upload bodies (413).

Multipart uploads have their own, larger limit (``max_upload_bytes``, checked as they stream to disk in
``api.upload``); every other body is JSON and small, so anything past ``max_json_bytes`` is refused
without being held in memory: by its declared Content-Length, or at the chunk that crosses the limit.
Whatever its declared type: a route may read a body it then refuses.
"""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException

from core.settings import get_settings


def _header(scope, name: bytes) -> str:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return ""


async def _refuse(send, status: int, code: str, message: str) -> None:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _too_large(limit: int) -> str:
    return f"request bodies other than uploads are limited to {limit} bytes"


def _capped(receive, limit: int):
    """``receive`` that raises a 413 once more than ``limit`` body bytes have arrived. An HTTPException,
    because FastAPI turns any other error met while it reads a body into a 400."""
    seen = 0

    async def capped():
        nonlocal seen
        message = await receive()
        seen += len(message.get("body", b""))
        if seen > limit:
            raise HTTPException(413, _too_large(limit))
        return message

    return capped


def _with_rate_limit_headers(scope, send):
    """``send`` that puts the RateLimit-* headers of the caller's key (``api.auth`` leaves its decision in
    the request state) on the answer, whatever route or error handler made it."""

    async def sending(message):
        decision = scope.get("state", {}).get("rate_limit")
        if message["type"] == "http.response.start" and decision is not None:
            present = {name.lower() for name, _ in message.get("headers", [])}
            extra = [(k.lower().encode(), v.encode()) for k, v in decision.headers().items()
                     if k.lower().encode() not in present]
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return sending


class RequestLimits:
    """ASGI middleware: 431 ``headers_too_large``; 413 ``too_large`` for bodies other than uploads."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        send = _with_rate_limit_headers(scope, send)
        settings = get_settings()
        if sum(len(k) + len(v) + 4 for k, v in scope["headers"]) > settings.max_header_bytes:
            return await _refuse(send, 431, "headers_too_large",
                                 f"request headers are over the limit of {settings.max_header_bytes} bytes")
        if _header(scope, b"content-type").startswith("multipart/form-data"):
            return await self.app(scope, receive, send)
        return await self._small_body(scope, receive, send, settings.max_json_bytes)

    async def _small_body(self, scope, receive, send, limit: int):
        declared = _header(scope, b"content-length")
        if declared.isdigit() and int(declared) > limit:
            return await _refuse(send, 413, "too_large", _too_large(limit))
        await self.app(scope, _capped(receive, limit), send)
