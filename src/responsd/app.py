"""create_app(settings): builds the store, the provider and the engine, and mounts the routes."""

import contextlib
from collections.abc import AsyncIterator

import httpx
import orjson
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from responsd.api import models, responses
from responsd.api.errors import add_exception_handlers
from responsd.config import Settings
from responsd.engine.loop import Engine
from responsd.errors import InvalidRequestError
from responsd.providers.base import ModelInfo, ModelRequest, Provider
from responsd.providers.openai_chat import OpenAIChatModel, UpstreamConfig
from responsd.request_ids import RequestIdMiddleware
from responsd.store.sql import SQLStore


class NoModelConfigured:
    """Stands in while no backend is configured, so every model call says how to fix it."""

    async def stream(self, request: ModelRequest) -> AsyncIterator:
        raise self._error()
        yield  # pragma: no cover - makes this an async generator

    async def count_input_tokens(self, request: ModelRequest) -> int:
        raise self._error()

    async def list_models(self) -> list[ModelInfo]:
        return []

    async def close(self) -> None:
        pass

    def _error(self) -> InvalidRequestError:
        return InvalidRequestError(
            "No model backend is configured. Set RESPONSD_UPSTREAM_URL to an OpenAI-compatible "
            "Chat Completions server (e.g. http://127.0.0.1:8000/v1).",
            param="model",
        )


def build_provider(settings: Settings, transport: httpx.AsyncBaseTransport | None) -> Provider:
    if settings.upstream_url:
        config = UpstreamConfig(
            base_url=settings.upstream_url,
            api_key=settings.upstream_api_key,
            read_timeout=settings.upstream_timeout,
            connect_timeout=settings.upstream_connect_timeout,
        )
        return OpenAIChatModel(config, transport)
    return NoModelConfigured()


async def healthz(_request: Request) -> Response:
    return Response(orjson.dumps({"status": "ok"}), media_type="application/json")


def create_app(
    settings: Settings, upstream_transport: httpx.AsyncBaseTransport | None = None
) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        store = await SQLStore.open(settings.resolved_database_url())
        provider = build_provider(settings, upstream_transport)
        app.state.engine = Engine(store, provider)
        try:
            yield
        finally:
            await provider.close()
            await store.close()

    app = Starlette(
        routes=[Route("/healthz", healthz), *responses.routes, *models.routes],
        middleware=[Middleware(RequestIdMiddleware)],
        lifespan=lifespan,
    )
    add_exception_handlers(app)
    return app
