"""Conversations and their items.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.create_table(
        "conversations",
        sa.Column("id", sa.String(80), primary_key=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("metadata", sa.Text, nullable=False),
        sa.Column("item_count", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_table(
        "conversation_items",
        sa.Column("conversation_id", sa.String(80), primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("item_id", sa.String(200), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
    )
    op.create_index(
        "ix_conversation_items_item_id", "conversation_items", ["conversation_id", "item_id"]
    )
    op.add_column("responses", sa.Column("conversation_id", sa.String(80), nullable=True))


def downgrade() -> None:
    op.drop_column("responses", "conversation_id")
    op.drop_table("conversation_items")
    op.drop_table("conversations")
