"""Check a finished reply against `text.format` (json_object, strict json_schema)."""

import jsonschema
import orjson

from responsd.errors import ModelOutputError
from responsd.types.text import FormatJSONObject, FormatJSONSchema, TextFormat


def check_output_text(fmt: TextFormat, texts: list[str]) -> None:
    """Raise ModelOutputError when the reply breaks the requested format.

    Plain text and non-strict schemas are not checked: the hosted API returns those as
    the model wrote them."""
    strict_schema = isinstance(fmt, FormatJSONSchema) and fmt.strict
    if not (isinstance(fmt, FormatJSONObject) or strict_schema) or not texts:
        return
    text = "".join(texts)
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ModelOutputError(
            f"The model's reply is not valid JSON, which text.format requires ({exc}). "
            f"The reply began: {text[:200]!r}"
        ) from exc
    if not isinstance(fmt, FormatJSONSchema):  # json_object
        if not isinstance(value, dict):
            raise ModelOutputError(
                "The model's reply is JSON but not an object, as json_object requires."
            )
        return
    errors = sorted(
        jsonschema.Draft202012Validator(fmt.schema_).iter_errors(value), key=lambda e: e.path
    )
    if errors:
        where = "/".join(str(p) for p in errors[0].absolute_path) or "(root)"
        raise ModelOutputError(
            f"The model's reply does not match the '{fmt.name}' schema at {where}: "
            f"{errors[0].message}"
        )
