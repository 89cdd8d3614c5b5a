"""Request bodies and query strings → validated models, or a 400 that names the field."""

from typing import Literal, TypeVar, cast

import orjson
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.requests import Request

from responsd.api.errors import validation_error
from responsd.concurrency import offload
from responsd.errors import InvalidRequestError
from responsd.types.items import InputItem

ModelT = TypeVar("ModelT", bound=BaseModel)
CHUNK = 2_000
"""Input items validated per call (about 15 ms each) when an input is long."""
_ITEMS = TypeAdapter(list[InputItem])


async def parse_body(request: Request, model: type[ModelT]) -> ModelT:
    raw = await request.body()
    return await offload(len(raw) // 1024, _parse, raw, model)


def _parse(raw: bytes, model: type[ModelT]) -> ModelT:
    data = _json_object(raw)
    items = data.get("input")
    if isinstance(items, list) and len(items) > CHUNK and "input" in model.model_fields:
        # One validation call holds the interpreter for its whole run (pydantic-core does
        # not release it): validate a long input in chunks, so the event loop gets a turn
        # between them, then the rest of the request without it.
        parsed = [item for start in range(0, len(items), CHUNK) for item in _chunk(data, start)]
        request = _validate(model, {**data, "input": []}, data)
        setattr(request, "input", parsed)  # noqa: B010 (any model with an `input` field)
        return request
    return _validate(model, data, data)


def _chunk(data: dict, start: int) -> list:
    try:
        return _ITEMS.validate_python(data["input"][start : start + CHUNK])
    except ValidationError as exc:
        errors = [
            {**e, "loc": ("input", start + int(e["loc"][0]), *e["loc"][1:])}
            for e in exc.errors(include_url=False)
        ]
        raise validation_error(errors, data) from exc


def validate(model: type[ModelT], data: dict) -> ModelT:
    """`data` as `model`, or a 400 naming the field (for bodies built here from others)."""
    return _validate(model, data, data)


def _validate(model: type[ModelT], body: dict, data: dict) -> ModelT:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise validation_error(exc.errors(include_url=False), data) from exc


def _json_object(raw: bytes) -> dict:
    if not raw.strip():
        return {}  # no body: the same as an empty object (missing fields are named)
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequestError(
            "We could not parse the JSON body of your request. Send a JSON object with "
            "Content-Type: application/json.",
            code="invalid_json",
        ) from exc
    if not isinstance(data, dict):
        raise InvalidRequestError("The request body must be a JSON object.", code="invalid_json")
    return data


def query_int(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise InvalidRequestError(
            f"Invalid value for '{name}': expected an integer from {low} to {high}.", param=name
        )
    return value


def query_choice(request: Request, name: str, default: str, choices: tuple[str, ...]) -> str:
    value = request.query_params.get(name, default)
    if value not in choices:
        raise InvalidRequestError(
            f"Invalid value for '{name}': expected one of {', '.join(choices)}.", param=name
        )
    return value


Order = Literal["asc", "desc"]


def query_order(request: Request, default: Order) -> Order:
    """The `order` query parameter of a list endpoint."""
    return cast(Order, query_choice(request, "order", default, ("asc", "desc")))
