"""Content parts of messages: what users send and what the model writes."""

from typing import Annotated, Any, Literal, TypeAlias

from pydantic import Field

from responsd.types._base import WireModel, omitted_when_none


class InputText(WireModel):
    """Text written by the user, system or developer."""

    type: Literal["input_text"] = "input_text"
    text: str


class InputImage(WireModel):
    """An image given by URL (http(s) or data URL) or by file id."""

    type: Literal["input_image"] = "input_image"
    image_url: str | None = omitted_when_none()
    file_id: str | None = omitted_when_none()
    detail: Literal["low", "high", "auto", "original"] | None = "auto"
    """null (the spec allows it) is stored as sent and means "auto"."""


class InputFile(WireModel):
    """A file given inline (`file_data` + `filename`), by URL or by file id."""

    type: Literal["input_file"] = "input_file"
    file_id: str | None = omitted_when_none()
    file_url: str | None = omitted_when_none()
    file_data: str | None = omitted_when_none()
    filename: str | None = omitted_when_none()


class OutputText(WireModel):
    """Text written by the model."""

    type: Literal["output_text"] = "output_text"
    text: str
    annotations: list[dict[str, Any]] = Field(default_factory=list)
    """Citations; always present, empty when there are none."""
    logprobs: list[dict[str, Any]] = Field(default_factory=list)
    """Token log probabilities; always present, empty unless requested."""


class Refusal(WireModel):
    """The model declining to answer."""

    type: Literal["refusal"] = "refusal"
    refusal: str


class ReasoningText(WireModel):
    """Raw reasoning written by the model."""

    type: Literal["reasoning_text"] = "reasoning_text"
    text: str


class SummaryText(WireModel):
    """A summary of the model's reasoning."""

    type: Literal["summary_text"] = "summary_text"
    text: str


ContentPart: TypeAlias = Annotated[
    InputText | InputImage | InputFile | OutputText | Refusal, Field(discriminator="type")
]
OutputContentPart: TypeAlias = Annotated[
    OutputText | Refusal | ReasoningText, Field(discriminator="type")
]
