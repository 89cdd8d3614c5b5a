"""A counter of deleted conversation items: a cached conversation is whole while it stays the
same (items are otherwise only appended, each at the next position).

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"

_COUNTERS = sa.table("counters", sa.column("name", sa.String), sa.column("value", sa.BigInteger))


def upgrade() -> None:
    op.bulk_insert(_COUNTERS, [{"name": "conversation_item_deletes", "value": 0}])


def downgrade() -> None:
    op.execute(_COUNTERS.delete().where(_COUNTERS.c.name == "conversation_item_deletes"))
