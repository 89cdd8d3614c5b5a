"""Persistence: every SQL statement lives in this package (SQLite and PostgreSQL)."""
