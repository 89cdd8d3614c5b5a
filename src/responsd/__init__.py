"""responsd: a self-hosted server for the OpenAI Responses API."""

__version__ = "0.1.0"
