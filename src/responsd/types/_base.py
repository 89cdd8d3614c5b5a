from typing import Any, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field

ItemStatus: TypeAlias = Literal["in_progress", "completed", "incomplete"]
"""The status of an item (the hosted API's spelling)."""


class WireModel(BaseModel):
    """A wire object that keeps fields we do not model, so items round-trip unchanged."""

    model_config = ConfigDict(extra="allow")


class StrictModel(BaseModel):
    """A wire object whose unknown fields are a client error (request bodies)."""

    model_config = ConfigDict(extra="forbid", strict=True)


def omitted_when_none(default: Any = None) -> Any:
    """An optional field that is left out of the JSON when unset, instead of `null`."""
    return Field(default=default, exclude_if=lambda v: v is None)
