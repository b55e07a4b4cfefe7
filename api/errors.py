"""Every error response is ``{"error": {"code": ..., "message": ...}}`` with a stable code."""

from __future__ import annotations

import logging
import uuid

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from core import db
from core.settings import get_settings


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def error_body(code: str, message: str, **extra) -> dict:
    return {"error": {"code": code, "message": message, **extra}}


def invalid(what: str, errors: list[dict]) -> ApiError:
    """422 ``invalid_request`` from pydantic's ``errors()``, as a sentence: "invalid job request: url:
    Input should be a valid URL; ..." (the field path, then its message without pydantic's prefixes)."""
    return ApiError(422, "invalid_request", f"{what}: {'; '.join(_readable(e) for e in errors)}")


def _readable(error: dict) -> str:
    message = error["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    where = ".".join(str(part) for part in error["loc"] if part != "body")
    return f"{where}: {message}" if where else message


log = logging.getLogger(__name__)
_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "too_large", 415: "unsupported_media"}


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message), exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
        message = invalid("the request is not valid", exc.errors()).message
        return JSONResponse(error_body("invalid_request", message, details=details), 422)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        # The traceback goes to the log under an ID the caller can quote; the caller gets the ID only.
        request_id = uuid.uuid4().hex
        log.error("request %s %s failed (request id %s)", request.method, request.url.path, request_id,
                  exc_info=exc)
        return JSONResponse(error_body("internal_error", "an internal error occurred; quote the request_id",
                                       request_id=request_id), 500, headers={"X-Request-ID": request_id})

    async def _database(request: Request, exc: Exception) -> JSONResponse:
        """An outage is the caller's to retry (503), never a 500; other database errors are bugs."""
        if not db.unavailable(exc):
            return await _crash(request, exc)
        log.warning("request %s %s: database unavailable: %s", request.method, request.url.path,
                    exc.__class__.__name__)
        retry_after = get_settings().db_retry_after_s
        return JSONResponse(error_body("database_unavailable", "the database is unavailable; try again"), 503,
                            headers={"Retry-After": str(retry_after)})

    app.add_exception_handler(DBAPIError, _database)
    app.add_exception_handler(PoolTimeout, _database)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        return JSONResponse(error_body(code, str(exc.detail)), exc.status_code)
