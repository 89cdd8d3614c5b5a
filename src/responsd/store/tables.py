"""The schema, as SQLAlchemy Core tables; migrations/ creates and evolves it."""

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    false,
    true,
)

metadata = MetaData()

responses = Table(
    "responses",
    metadata,
    Column("id", String(80), primary_key=True),
    Column("previous_response_id", String(80), nullable=True),
    Column("created_at", BigInteger, nullable=False),
    # The Response object as JSON, exactly as returned to clients.
    Column("body", Text, nullable=False),
    Column("conversation_id", String(80), nullable=True),
    Column("status", String(20), nullable=True),
    # Background responses only: the request (to run it after a restart), the worker that
    # runs it and when that worker last said it was alive, and a cancel waiting for it.
    Column("background", Boolean, nullable=False, server_default=false()),
    Column("request", Text, nullable=True),
    Column("worker_id", String(80), nullable=True),
    Column("heartbeat_at", Float, nullable=True),
    Column("cancel_requested", Boolean, nullable=False, server_default=false()),
    # When a background response should be done by (created_at + its completion window):
    # the queue runs the earliest first.
    Column("run_by", BigInteger, nullable=True),
    # The run a background response continues (background_options.continuation_id, hashed
    # with its window and model): its follow-ups keep the first one's target.
    Column("continuation", String(64), nullable=True),
)
Index(
    "ix_responses_continuation",
    responses.c.continuation,
    sqlite_where=responses.c.continuation.isnot(None),
    postgresql_where=responses.c.continuation.isnot(None),
)
# The background queue's index: background responses only (see migration 0008).
Index(
    "ix_responses_background_status",
    responses.c.status,
    responses.c.run_by,
    sqlite_where=responses.c.background == true(),
    postgresql_where=responses.c.background,
)

INPUT, OUTPUT = 0, 1
"""`response_items.kind`: an item of the request's input, or of the response's output."""

response_items = Table(
    "response_items",
    metadata,
    Column("response_id", String(80), primary_key=True),
    Column("kind", SmallInteger, primary_key=True),
    Column("position", Integer, primary_key=True),
    # Not unique: clients resend the same items (with their ids) on every turn.
    Column("item_id", String(200), nullable=False),
    Column("body", Text, nullable=False),
    Index("ix_response_items_item_id", "item_id"),
)

conversations = Table(
    "conversations",
    metadata,
    Column("id", String(80), primary_key=True),
    Column("created_at", BigInteger, nullable=False),
    Column("metadata", Text, nullable=False),
    # Bumped first in every append: it takes the write lock and hands out positions, so
    # concurrent appends to one conversation serialize instead of colliding.
    Column("item_count", Integer, nullable=False, server_default="0"),
)

conversation_items = Table(
    "conversation_items",
    metadata,
    Column("conversation_id", String(80), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("item_id", String(200), nullable=False),
    Column("body", Text, nullable=False),
    Index("ix_conversation_items_item_id", "conversation_id", "item_id"),
)

response_events = Table(
    "response_events",
    metadata,
    Column("response_id", String(80), primary_key=True),
    Column("sequence_number", Integer, primary_key=True),
    Column("type", String(80), nullable=False),
    Column("body", Text, nullable=False),
)

# -- files and vector stores (migration 0004) ------------------------------------------------

files = Table(
    "files",
    metadata,
    Column("id", String(80), primary_key=True),
    Column("created_at", BigInteger, nullable=False),
    Column("created_ns", BigInteger, nullable=False),
    Column("bytes", BigInteger, nullable=False),
    Column("filename", Text, nullable=False),
    Column("purpose", String(40), nullable=False),
    Column("expires_at", BigInteger, nullable=True),
    Index("ix_files_created_ns", "created_ns"),
)
"""Uploaded files; their bytes live under the data directory (`files/<id>`)."""

uploads = Table(
    "uploads",
    metadata,
    Column("id", String(80), primary_key=True),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("filename", Text, nullable=False),
    Column("purpose", String(40), nullable=False),
    Column("bytes", BigInteger, nullable=False),
    Column("mime_type", String(200), nullable=False),
    Column("status", String(20), nullable=False),
    Column("file_id", String(80), nullable=True),
    # Seconds after its creation that the completed file expires (expires_after); null: never.
    Column("file_expires_after", BigInteger, nullable=True),
)

upload_parts = Table(
    "upload_parts",
    metadata,
    Column("id", String(80), primary_key=True),
    Column("upload_id", String(80), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("bytes", BigInteger, nullable=False),
    Index("ix_upload_parts_upload_id", "upload_id"),
)

vector_stores = Table(
    "vector_stores",
    metadata,
    Column("id", String(80), primary_key=True),
    Column("created_at", BigInteger, nullable=False),
    Column("created_ns", BigInteger, nullable=False),
    Column("name", Text, nullable=True),
    Column("description", Text, nullable=True),
    Column("metadata", Text, nullable=False),
    Column("expires_after", Text, nullable=True),
    Column("expires_at", BigInteger, nullable=True),
    Column("last_active_at", BigInteger, nullable=False),
    # The embedder its vectors were made with ("wordllama-256", …; null: keyword only).
    Column("embedder", String(200), nullable=True),
    # Bumped whenever its chunks change: search caches of its vectors key on it.
    Column("version", Integer, nullable=False, server_default="0"),
)

vector_store_files = Table(
    "vector_store_files",
    metadata,
    Column("vector_store_id", String(80), primary_key=True),
    Column("file_id", String(80), primary_key=True),
    Column("created_at", BigInteger, nullable=False),
    Column("created_ns", BigInteger, nullable=False),
    Column("status", String(20), nullable=False),
    Column("last_error", Text, nullable=True),
    Column("attributes", Text, nullable=False),
    Column("chunking_strategy", Text, nullable=False),
    Column("usage_bytes", BigInteger, nullable=False, server_default="0"),
    Column("batch_id", String(80), nullable=True),
    # Ingestion is claimed like a background response: a worker and its heartbeat.
    Column("worker_id", String(80), nullable=True),
    Column("heartbeat_at", Float, nullable=True),
    Index("ix_vector_store_files_status", "status"),
    Index("ix_vector_store_files_file_id", "file_id"),
)

vector_store_file_batches = Table(
    "vector_store_file_batches",
    metadata,
    Column("id", String(80), primary_key=True),
    Column("vector_store_id", String(80), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("cancelled", Boolean, nullable=False, server_default=false()),
)

chunks = Table(
    "chunks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("vector_store_id", String(80), nullable=False),
    Column("file_id", String(80), nullable=False),
    Column("position", Integer, nullable=False),
    Column("text", Text, nullable=False),
    # float16, little-endian; null when the store has no embedder.
    Column("embedding", LargeBinary, nullable=True),
    Index("ix_chunks_store_file", "vector_store_id", "file_id"),
)
"""Indexed text: keyword search through `chunks_fts` (SQLite FTS5) or the `tsv` column
(PostgreSQL full text), both created by migration 0004 beside this table."""

chat_completions = Table(
    "chat_completions",
    metadata,
    Column("id", String(80), primary_key=True),
    Column("created_at", BigInteger, nullable=False),
    Column("created_ns", BigInteger, nullable=False),
    Column("model", String(200), nullable=False),
    # JSON, not Text: list filters read keys in SQL (json_extract / ->>).
    Column("metadata", JSON, nullable=False),
    # The ChatCompletion as returned (without metadata), and the request's messages as
    # listed by /messages, both JSON.
    Column("body", Text, nullable=False),
    Column("messages", Text, nullable=False),
    Index("ix_chat_completions_created_ns", "created_ns"),
)

counters = Table(
    "counters",
    metadata,
    Column("name", String(40), primary_key=True),
    # "response_deletes": bumped by every response delete, in its transaction, so a chain
    # cached under one value is known to be whole while the value has not changed;
    # "conversation_item_deletes": the same for conversations' items.
    Column("value", BigInteger, nullable=False),
)
