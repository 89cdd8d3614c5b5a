"""Keyset pages in creation order, (created_ns, id): `after`/`before` name the row seen
last/first. Nanoseconds, not the wire's `created_at` seconds: objects made in the same
second still list in the order they were made."""

from typing import Literal

from sqlalchemy import Connection, Select, Table, and_, or_, select


def page(
    conn: Connection,
    query: Select,
    table: Table,
    after: str | None,
    limit: int,
    order: Literal["asc", "desc"],
    id_column: str = "id",
    before: str | None = None,
) -> tuple[list, bool]:
    """Rows of `query` that follow `after` (or precede `before`) in `order`, and whether more
    follow (precede) them. An unknown cursor is ignored, as the hosted API does."""
    created, key = table.c.created_ns, table.c[id_column]
    backwards = before is not None
    ascending = (order == "asc") != backwards  # the direction rows are read in
    cursor_id = before if backwards else after
    if cursor_id is not None:
        cursor = conn.execute(select(created).where(key == cursor_id)).first()
        if cursor is not None:
            moment = cursor[0]
            if ascending:
                query = query.where(or_(created > moment, and_(created == moment, key > cursor_id)))
            else:
                query = query.where(or_(created < moment, and_(created == moment, key < cursor_id)))
    if ascending:
        query = query.order_by(created.asc(), key.asc())
    else:
        query = query.order_by(created.desc(), key.desc())
    rows = conn.execute(query.limit(limit + 1)).all()
    kept = rows[:limit]
    return list(kept[::-1] if backwards else kept), len(rows) > limit
