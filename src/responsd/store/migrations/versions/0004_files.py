"""Files, uploads, vector stores, their files and batches, and indexed chunks.

Keyword search needs dialect-specific parts: an FTS5 table kept in step with `chunks` by
triggers on SQLite, a generated `tsvector` column with a GIN index on PostgreSQL.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.create_table(
        "files",
        sa.Column("id", sa.String(80), primary_key=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("created_ns", sa.BigInteger, nullable=False),
        sa.Column("bytes", sa.BigInteger, nullable=False),
        sa.Column("filename", sa.Text, nullable=False),
        sa.Column("purpose", sa.String(40), nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_files_created_ns", "files", ["created_ns"])
    op.create_table(
        "uploads",
        sa.Column("id", sa.String(80), primary_key=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.Column("filename", sa.Text, nullable=False),
        sa.Column("purpose", sa.String(40), nullable=False),
        sa.Column("bytes", sa.BigInteger, nullable=False),
        sa.Column("mime_type", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("file_id", sa.String(80), nullable=True),
        sa.Column("file_expires_after", sa.BigInteger, nullable=True),
    )
    op.create_table(
        "upload_parts",
        sa.Column("id", sa.String(80), primary_key=True),
        sa.Column("upload_id", sa.String(80), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("bytes", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_upload_parts_upload_id", "upload_parts", ["upload_id"])
    op.create_table(
        "vector_stores",
        sa.Column("id", sa.String(80), primary_key=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("created_ns", sa.BigInteger, nullable=False),
        sa.Column("name", sa.Text, nullable=True),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("metadata", sa.Text, nullable=False),
        sa.Column("expires_after", sa.Text, nullable=True),
        sa.Column("expires_at", sa.BigInteger, nullable=True),
        sa.Column("last_active_at", sa.BigInteger, nullable=False),
        sa.Column("embedder", sa.String(200), nullable=True),
        sa.Column("version", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_table(
        "vector_store_files",
        sa.Column("vector_store_id", sa.String(80), primary_key=True),
        sa.Column("file_id", sa.String(80), primary_key=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("created_ns", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("attributes", sa.Text, nullable=False),
        sa.Column("chunking_strategy", sa.Text, nullable=False),
        sa.Column("usage_bytes", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("batch_id", sa.String(80), nullable=True),
        sa.Column("worker_id", sa.String(80), nullable=True),
        sa.Column("heartbeat_at", sa.Float, nullable=True),
    )
    op.create_index("ix_vector_store_files_status", "vector_store_files", ["status"])
    op.create_index("ix_vector_store_files_file_id", "vector_store_files", ["file_id"])
    op.create_table(
        "vector_store_file_batches",
        sa.Column("id", sa.String(80), primary_key=True),
        sa.Column("vector_store_id", sa.String(80), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("cancelled", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "chunks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("vector_store_id", sa.String(80), nullable=False),
        sa.Column("file_id", sa.String(80), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("embedding", sa.LargeBinary, nullable=True),
    )
    op.create_index("ix_chunks_store_file", "chunks", ["vector_store_id", "file_id"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE chunks ADD COLUMN tsv tsvector "
            "GENERATED ALWAYS AS (to_tsvector('english', text)) STORED"
        )
        op.execute("CREATE INDEX ix_chunks_tsv ON chunks USING gin (tsv)")
    else:
        # External-content FTS5: the text is stored once, in `chunks`; triggers keep the
        # index in step. Porter stemming matches "policies" to "policy", as PostgreSQL does.
        op.execute(
            "CREATE VIRTUAL TABLE chunks_fts USING fts5(text, content='chunks', "
            "content_rowid='id', tokenize='porter unicode61')"
        )
        op.execute(
            "CREATE TRIGGER chunks_ai AFTER INSERT ON chunks BEGIN "
            "INSERT INTO chunks_fts(rowid, text) VALUES (new.id, new.text); END"
        )
        op.execute(
            "CREATE TRIGGER chunks_ad AFTER DELETE ON chunks BEGIN "
            "INSERT INTO chunks_fts(chunks_fts, rowid, text) VALUES ('delete', old.id, old.text);"
            " END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.execute("DROP TRIGGER chunks_ad")
        op.execute("DROP TRIGGER chunks_ai")
        op.execute("DROP TABLE chunks_fts")
    for table in (
        "chunks",
        "vector_store_file_batches",
        "vector_store_files",
        "vector_stores",
        "upload_parts",
        "uploads",
        "files",
    ):
        op.drop_table(table)
