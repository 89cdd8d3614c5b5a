"""`text` (output format and verbosity) and `reasoning` configuration."""

from typing import Annotated, Any, Literal, TypeAlias

from pydantic import BeforeValidator, ConfigDict, Field

from responsd.types._base import StrictModel, omitted_when_none


class FormatText(StrictModel):
    """Plain text output (the default)."""

    type: Literal["text"] = "text"


class FormatJSONObject(StrictModel):
    """Any JSON object."""

    type: Literal["json_object"] = "json_object"


class FormatJSONSchema(StrictModel):
    """JSON that follows `schema`; with `strict`, a reply that does not validate fails."""

    model_config = ConfigDict(
        extra="forbid", strict=True, populate_by_name=True, serialize_by_alias=True
    )
    type: Literal["json_schema"] = "json_schema"
    name: str = Field(min_length=1, max_length=64, pattern=r"^[a-zA-Z0-9_-]+$")
    schema_: dict[str, Any] = Field(alias="schema")
    description: str | None = None
    """Always echoed, null when absent: Open Responses requires the key (the OpenAPI spec
    does not), and its compliance suite is one of our clients."""
    strict: Annotated[bool, BeforeValidator(lambda v: False if v is None else v)] = False
    """Off unless asked for, as on the hosted API; echoed as a boolean."""


TextFormat: TypeAlias = Annotated[
    FormatText | FormatJSONObject | FormatJSONSchema, Field(discriminator="type")
]


class TextConfig(StrictModel):
    """How the model's text is shaped."""

    format: TextFormat = Field(default_factory=FormatText)
    verbosity: Literal["low", "medium", "high"] | None = "medium"
    """None (sent as null, and echoed so) leaves it to the model, like "medium"."""


class ReasoningConfig(StrictModel):
    """Reasoning effort and summary requested for reasoning models."""

    effort: Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"] | None = None
    summary: Literal["auto", "concise", "detailed"] | None = None
    mode: str | None = None
    """Execution mode; only "standard" (the only one this server has) is accepted."""
    context: Literal["auto", "current_turn", "all_turns"] | None = None
    """Which earlier reasoning goes back to the model: the current turn's, or all turns'."""
    generate_summary: Literal["auto", "concise", "detailed"] | None = omitted_when_none()
    """Deprecated spelling of `summary`."""
