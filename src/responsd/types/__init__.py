"""Wire schema of the Responses API as pydantic models. No behaviour lives here."""
