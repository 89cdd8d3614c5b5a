"""Background responses: status and ownership columns, and the durable event log.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    with op.batch_alter_table("responses") as batch:
        batch.add_column(sa.Column("status", sa.String(20), nullable=True))
        batch.add_column(
            sa.Column("background", sa.Boolean, nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("request", sa.Text, nullable=True))
        batch.add_column(sa.Column("worker_id", sa.String(80), nullable=True))
        batch.add_column(sa.Column("heartbeat_at", sa.Float, nullable=True))
        batch.add_column(
            sa.Column("cancel_requested", sa.Boolean, nullable=False, server_default=sa.false())
        )
    op.create_index("ix_responses_background_status", "responses", ["background", "status"])
    op.create_table(
        "response_events",
        sa.Column("response_id", sa.String(80), primary_key=True),
        sa.Column("sequence_number", sa.Integer, primary_key=True),
        sa.Column("type", sa.String(80), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("response_events")
    op.drop_index("ix_responses_background_status", "responses")
    with op.batch_alter_table("responses") as batch:
        for name in (
            "cancel_requested",
            "heartbeat_at",
            "worker_id",
            "request",
            "background",
            "status",
        ):
            batch.drop_column(name)
