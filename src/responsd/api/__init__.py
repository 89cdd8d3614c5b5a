"""The HTTP edge: parse and validate, delegate to the engine, encode JSON or SSE."""
