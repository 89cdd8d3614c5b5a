"""/v1/models: the models the configured provider serves."""

from dataclasses import asdict

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from responsd.errors import NotFoundError, PermissionDeniedError


async def list_models(request: Request) -> Response:
    models = [
        {"id": m.id, "object": "model", "created": m.created, "owned_by": m.owned_by}
        for m in await request.app.state.engine.provider.list_models()
    ]
    # `models` repeats `data` for Codex front ends, which read that key.
    body = {"object": "list", "data": models, "models": models}
    return Response(orjson.dumps(body), media_type="application/json")


async def retrieve_model(request: Request) -> Response:
    model_id = request.path_params["model_id"]
    for m in await request.app.state.engine.provider.list_models():
        if m.id == model_id:
            body = {**asdict(m), "object": "model"}
            return Response(orjson.dumps(body), media_type="application/json")
    raise NotFoundError(f"Model '{model_id}' not found.", param="model")


async def delete_model(request: Request) -> Response:
    model_id = request.path_params["model_id"]
    raise PermissionDeniedError(
        f"Model '{model_id}' cannot be deleted: this server has no fine-tuned models, only the "
        "models it is configured to serve.",
        param="model",
    )


routes = [
    Route("/v1/models", list_models, methods=["GET"]),
    Route("/v1/models/{model_id:path}", retrieve_model, methods=["GET"]),
    Route("/v1/models/{model_id:path}", delete_model, methods=["DELETE"]),
]
