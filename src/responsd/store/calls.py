"""How the stores reach the database, as `SQLStore` hands it to them."""

from collections.abc import Awaitable, Callable
from typing import Any

Run = Callable[..., Awaitable[Any]]
"""`run(fn, *args)`: `fn(*args)` on a database thread."""
Reader = Callable[[dict[str, Any]], Awaitable[list[Any]]]
"""The rows of one small query for the given parameters (on SQLite read on the event loop
when the database can be read at once, else on a thread)."""
Readers = Callable[[Any], Reader]
"""`readers(statement)`: the Reader of that statement (compiled once)."""
