"""Every error becomes the hosted API's envelope here, and only here."""

import logging
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from responsd.errors import InvalidRequestError, ResponsdError

log = logging.getLogger("responsd.api")


def error_response(error: ResponsdError) -> Response:
    body = orjson.dumps({"error": error.envelope()})
    return Response(body, error.status_code, error.headers, media_type="application/json")


async def _responsd_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ResponsdError)
    if exc.status_code >= 500:
        log.warning("%s: %s", type(exc).__name__, exc.message)
    return error_response(exc)


async def _http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        error = ResponsdError("Unknown endpoint; see /v1/responses and /v1/models.")
    else:
        error = ResponsdError(str(exc.detail), headers=dict(exc.headers or {}))  # 405: Allow
    error.status_code = exc.status_code
    error.type = "invalid_request_error"
    error.code = None
    return error_response(error)


def internal_error_body() -> bytes:
    """The 500 envelope for an error nothing handled (sent by the request-id middleware)."""
    return orjson.dumps({"error": ResponsdError("The server had an internal error.").envelope()})


def add_exception_handlers(app: Starlette) -> None:
    # Anything else is answered by RequestIdMiddleware, which knows the request's id.
    app.add_exception_handler(ResponsdError, _responsd_error)
    app.add_exception_handler(HTTPException, _http_error)


def validation_error(errors: list[Any], data: Any) -> InvalidRequestError:
    """The one pydantic error a person should fix first, with `param` as the hosted API names it."""
    unknown = [e for e in errors if e["type"] == "extra_forbidden"]
    if unknown:
        param = _param(_real_path(unknown[0]["loc"], data))
        return InvalidRequestError(
            f"Unrecognized request argument supplied: {param}",
            param=param,
            code="unknown_parameter",
        )
    paths = [(_real_path(e["loc"], data), e) for e in errors]
    path, error = max(paths, key=lambda pe: len(pe[0]))
    param = _param(path)
    if error["type"] == "missing":
        return InvalidRequestError(
            f"Missing required parameter: '{param}'.",
            param=param,
            code="missing_required_parameter",
        )
    return InvalidRequestError(
        f"Invalid value for '{param}': {error['msg']}.", param=param, code="invalid_value"
    )


def _real_path(loc: tuple[Any, ...], data: Any) -> list[str | int]:
    # pydantic puts union branch labels ("str", "function_call", …) into `loc`; keep only
    # the steps that exist in the request body, plus a final missing or unknown key.
    path: list[str | int] = []
    current = data
    for n, step in enumerate(loc):
        if _has_step(current, step):
            current = current[step]
        elif n == len(loc) - 1 and isinstance(step, str) and isinstance(current, dict):
            current = None
        else:
            continue
        path.append(step)
    return path


def _has_step(current: Any, step: Any) -> bool:
    if isinstance(current, dict):
        return isinstance(step, str) and step in current
    return isinstance(current, list) and isinstance(step, int) and 0 <= step < len(current)


def _param(path: list[str | int]) -> str:
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else step)
    return text
