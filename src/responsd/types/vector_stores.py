"""Request bodies of the Vector Stores API."""

from typing import Any, Literal

from pydantic import Field

from responsd.types._base import StrictModel
from responsd.types.requests import Metadata

Attributes = dict[str, str | int | float | bool] | None
"""Up to 16 keys; strings up to 512 characters (checked where they are stored)."""


class StoreExpiry(StrictModel):
    anchor: Literal["last_active_at"]
    days: int = Field(ge=1, le=365)


class VectorStoreCreateRequest(StrictModel):
    name: str | None = None
    description: str | None = None
    file_ids: list[str] | None = Field(default=None, max_length=500)
    metadata: Metadata = None
    expires_after: StoreExpiry | None = None
    chunking_strategy: dict[str, Any] | None = None


class VectorStoreUpdateRequest(StrictModel):
    name: str | None = None
    metadata: Metadata = None
    expires_after: StoreExpiry | None = None


class FileCreateRequest(StrictModel):
    file_id: str
    attributes: Attributes = None
    chunking_strategy: dict[str, Any] | None = None


class FileUpdateRequest(StrictModel):
    attributes: Attributes


class BatchFile(StrictModel):
    file_id: str
    attributes: Attributes = None
    chunking_strategy: dict[str, Any] | None = None


class BatchCreateRequest(StrictModel):
    file_ids: list[str] | None = Field(default=None, max_length=2000)
    files: list[BatchFile] | None = Field(default=None, max_length=2000)
    attributes: Attributes = None
    chunking_strategy: dict[str, Any] | None = None


class SearchRankingOptions(StrictModel):
    ranker: Literal["none", "auto", "default-2024-11-15"] = "auto"
    score_threshold: float = Field(default=0.0, ge=0, le=1)


class SearchRequest(StrictModel):
    query: str | list[str]
    filters: dict[str, Any] | None = None
    max_num_results: int = Field(default=10, ge=1, le=50)
    ranking_options: SearchRankingOptions | None = None
    rewrite_query: bool = False
