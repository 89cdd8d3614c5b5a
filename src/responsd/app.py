"""create_app(settings): builds the store, the provider and the engine, and mounts the routes."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from responsd.api import (
    chat_completions,
    conversations,
    files,
    models,
    responses,
    vector_stores,
    websocket,
)
from responsd.api.auth import BearerKeyMiddleware
from responsd.api.errors import add_exception_handlers
from responsd.api.limits import RequestLimitMiddleware
from responsd.api.request_ids import RequestIdMiddleware
from responsd.config import Settings
from responsd.engine.background import BackgroundRunner
from responsd.engine.library import Library
from responsd.engine.loop import Engine, EngineOptions
from responsd.providers.base import Provider
from responsd.providers.hub import fetch_model
from responsd.providers.openai_chat import OpenAIChatModel, UpstreamConfig
from responsd.retrieval.embedders import build_embedder
from responsd.sealing import KeyRing
from responsd.store.sql import SQLStore
from responsd.tools.registry import ToolOptions


def local_model_path(settings: Settings) -> Path:
    """The GGUF the embedded model runs: model_path, the named Hub model, or the default."""
    if settings.model_path is not None:
        return settings.model_path
    if settings.model:
        return fetch_model(settings.model)
    from responsd.providers.local import default_model_path

    return default_model_path()


def build_provider(settings: Settings) -> Provider:
    if settings.upstream_url:
        upstream = UpstreamConfig(
            base_url=settings.upstream_url,
            api_key=settings.upstream_api_key,
            read_timeout=settings.upstream_timeout,
            connect_timeout=settings.upstream_connect_timeout,
            think_tags=settings.upstream_think_tags,
            reasoning_history=settings.upstream_reasoning_history,
            context_window=settings.upstream_context_window,
        )
        return OpenAIChatModel(upstream)
    # Imported here: llama.cpp's library costs ~20 MiB of memory a server on an upstream
    # never uses.
    from responsd.providers.local import LocalModel, LocalModelConfig

    config = LocalModelConfig(
        model_path=local_model_path(settings),
        context_size=settings.local_context,
        parallel=settings.local_parallel,
        threads=settings.local_threads,
        seed=settings.local_seed,
        max_output_tokens=settings.local_max_output_tokens,
        max_queue=settings.local_max_queue,
        chat_template=(
            settings.local_chat_template.read_text() if settings.local_chat_template else None
        ),
        native_tools=settings.local_tool_syntax == "auto",
    )
    return LocalModel(config)


def _keys(settings: Settings) -> list[str]:
    return [k.strip() for k in (settings.api_keys or "").split(",") if k.strip()]


async def healthz(_request: Request) -> Response:
    return Response(orjson.dumps({"status": "ok"}), media_type="application/json")


def create_app(settings: Settings) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        store = await SQLStore.open(settings.resolved_database_url(), settings.data_dir)
        # Loading weights blocks for a moment; keep it off the event loop.
        provider = await asyncio.to_thread(build_provider, settings)
        keys = KeyRing.load(settings.encryption_keys, settings.data_dir)
        options = EngineOptions(
            summary_model=settings.summary_model,
            zero_data_retention=settings.zero_data_retention,
            max_turns=settings.max_turns,
            tools=ToolOptions(
                allow_private_network=settings.allow_private_network,
                mcp_timeout=settings.mcp_timeout,
                web_search_url=settings.web_search_url,
                images_url=settings.images_url,
                images_api_key=settings.images_api_key,
            ),
        )
        embedder = build_embedder(
            settings.embeddings,
            settings.embeddings_url,
            settings.embeddings_model,
            settings.embeddings_api_key,
        )
        app.state.library = library = Library(store, embedder, settings.worker_stale_after)
        app.state.max_file_bytes = settings.max_file_size
        app.state.websocket_max_seconds = settings.websocket_max_seconds
        app.state.engine = engine = Engine(store, provider, keys, options, library)
        app.state.runner = runner = BackgroundRunner(engine, settings.worker_stale_after)
        await runner.start()
        await library.start()
        try:
            yield
        finally:
            await library.close()
            await runner.close()
            await provider.close()
            await store.close()

    app = Starlette(
        routes=[
            Route("/healthz", healthz),
            *responses.routes,
            *websocket.routes,
            *chat_completions.routes,
            *conversations.routes,
            *models.routes,
            *files.routes,
            *vector_stores.routes,
        ],
        middleware=[
            Middleware(RequestIdMiddleware),
            Middleware(
                RequestLimitMiddleware,
                max_bytes=settings.max_request_body,
                read_timeout=settings.request_body_timeout,
                # File bodies may be as large as a file, plus the multipart framing.
                file_bytes=settings.max_file_size + 64 * 1024,
            ),
            *([Middleware(BearerKeyMiddleware, keys=keys)] if (keys := _keys(settings)) else []),
        ],
        lifespan=lifespan,
    )
    add_exception_handlers(app)
    return app
