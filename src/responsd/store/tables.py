"""The schema, as SQLAlchemy Core tables; migrations/ creates and evolves it."""

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    false,
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
    Index("ix_responses_background_status", "background", "status"),
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
