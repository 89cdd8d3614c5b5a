"""Stored chat completions (`store: true` on POST /v1/chat/completions).

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.create_table(
        "chat_completions",
        sa.Column("id", sa.String(80), primary_key=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("created_ns", sa.BigInteger, nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("metadata", sa.JSON, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("messages", sa.Text, nullable=False),
    )
    op.create_index("ix_chat_completions_created_ns", "chat_completions", ["created_ns"])


def downgrade() -> None:
    op.drop_index("ix_chat_completions_created_ns", "chat_completions")
    op.drop_table("chat_completions")
