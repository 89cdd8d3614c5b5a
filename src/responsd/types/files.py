"""Request bodies of the Uploads API (files themselves arrive as multipart forms)."""

from pydantic import Field

from responsd.types._base import StrictModel


class ExpiresAfter(StrictModel):
    anchor: str
    seconds: int


class UploadCreateRequest(StrictModel):
    bytes: int = Field(ge=0)
    filename: str = Field(min_length=1)
    mime_type: str = Field(min_length=1)
    purpose: str
    expires_after: ExpiresAfter | None = None


class UploadCompleteRequest(StrictModel):
    part_ids: list[str]
    md5: str | None = None
