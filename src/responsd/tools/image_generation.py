"""The hosted API's `image_generation` tool, run on an image service the operator names.

- The service is an OpenAI-compatible Images API (`images_url`, e.g. `http://host/v1`):
  `POST <url>/images/generations` with `{prompt, n: 1}` and the tool's settings that were
  given (`model`, `size`, `quality`, `background`, `output_format`, `output_compression`,
  `moderation`), answering `{"data": [{"b64_json"} or {"url"}, "revised_prompt"?]}`. It is
  the operator's own service (LocalAI, a stable-diffusion server, OpenAI itself with
  `images_api_key`), so it is not held to the private-network guard, and an image it
  answers with by `url` is fetched from it.
- To the model it is one function, `image_generation`, taking a `prompt`; each call is an
  `image_generation_call` item (`result`: the image, base64) with its in_progress →
  generating → completed events. The model does not see the image: it is told that the
  user does. A service that fails makes the item `failed` and the model is told so.
- New images only: `action: "edit"`, `input_image_mask` and `input_fidelity` (edits) and
  `partial_images` (streamed previews) are refused by name.
"""

import base64
import binascii
import logging
from typing import Any

import httpx
import orjson

from responsd.errors import UnsupportedParameterError
from responsd.ids import new_item_id
from responsd.providers.base import ToolSpec
from responsd.tools.base import ToolJob, ToolProgress, text_argument
from responsd.types.events import (
    ResponseImageGenCallCompletedEvent,
    ResponseImageGenCallGeneratingEvent,
    ResponseImageGenCallInProgressEvent,
)
from responsd.types.items import FunctionCall, FunctionCallOutput, ImageGenerationCall, Item
from responsd.types.tools import ImageGenerationTool

log = logging.getLogger("responsd.tools.image_generation")

FUNCTION = "image_generation"
TIMEOUT = 300.0
"""Seconds the service has to make one image (big models on small GPUs are slow)."""
MAX_IMAGE_BYTES = 64 * 1024 * 1024
DESCRIPTION = (
    "Make an image and show it to the user. Give a detailed `prompt`: the subject, style, "
    "composition and any text to draw. You will not see the image."
)
PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {"prompt": {"type": "string", "description": "What the image shows."}},
    "required": ["prompt"],
    "additionalProperties": False,
}
SHOWN = "The image was made and shown to the user."
_PASSED = ("model", "size", "quality", "background", "output_format", "output_compression")
"""The tool's settings sent to the service as they are (with `moderation`)."""
_KEPT = ("size", "quality", "background", "output_format")
"""Settings the item reports, as given."""


class ImageGeneration:
    """One `image_generation` entry of a request's tools."""

    def __init__(self, config: ImageGenerationTool, url: str, api_key: str | None):
        self.config = config
        self.url = url.rstrip("/") + "/images/generations"
        self.api_key = api_key
        self._http: httpx.AsyncClient | None = None

    async def check(self, param: str) -> None:
        config = self.config
        for name, given, why in (
            ("action", config.action == "edit", "edits existing images"),
            ("input_image_mask", config.input_image_mask is not None, "edits images"),
            ("input_fidelity", config.input_fidelity is not None, "edits images"),
            ("partial_images", bool(config.partial_images), "streams previews"),
        ):
            if given:
                raise UnsupportedParameterError(
                    f"This server makes new images only; {param}.{name} {why}.",
                    param=f"{param}.{name}",
                )
        extra = config.__pydantic_extra__ or {}
        unknown = [f"{param}.{key}" for key, value in extra.items() if value is not None]
        if unknown:  # honoured or refused, never ignored
            raise UnsupportedParameterError(
                f"{unknown[0]} is not supported by this server's image generation.",
                param=unknown[0],
            )

    def setup(self, context: list[Item]) -> ToolJob | None:
        return None

    def functions(self) -> list[ToolSpec]:
        return [ToolSpec(FUNCTION, "function", DESCRIPTION, PARAMETERS, True, builtin=True)]

    def owns(self, function: str) -> bool:
        return function == FUNCTION

    def call(self, spec: ToolSpec, arguments: str) -> list[ToolJob]:
        kept = {key: getattr(self.config, key) for key in _KEPT}
        item = ImageGenerationCall(
            id=new_item_id("image_generation_call"),
            status="in_progress",
            revised_prompt=text_argument(arguments, "prompt"),
            action="generate",
            **{key: value for key, value in kept.items() if value is not None},
        )
        return [ToolJob(item, lambda index: self._run(item, index))]

    async def _run(self, item: ImageGenerationCall, index: int) -> ToolProgress:
        ids: dict[str, Any] = {"item_id": item.id, "output_index": index}
        yield ResponseImageGenCallInProgressEvent(**ids)
        yield ResponseImageGenCallGeneratingEvent(**ids)
        try:
            result, revised = await self._generate(item.revised_prompt or "")
        except (httpx.HTTPError, ValueError) as exc:
            # The operator's log gets the details; the model (and so the user) gets no URL.
            log.warning("image generation failed: %r", exc)
            why = str(exc) if isinstance(exc, ValueError) else "it could not be reached"
            error = {"type": "server_error", "code": "image_service_failed", "message": why}
            yield item.model_copy(update={"status": "failed", "error": error})
            return
        yield ResponseImageGenCallCompletedEvent(**ids)
        update: dict[str, Any] = {"status": "completed", "result": result}
        if revised:
            update["revised_prompt"] = revised
        yield item.model_copy(update=update)

    async def _generate(self, prompt: str) -> tuple[str, str | None]:
        """The image (base64) and the prompt the service says it used."""
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=TIMEOUT)
        body: dict[str, Any] = {"prompt": prompt, "n": 1}
        for key in (*_PASSED, "moderation"):
            if (value := getattr(self.config, key)) is not None:
                body[key] = value
        # The key goes with this request only: an image answered by URL may be elsewhere.
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        headers["Content-Type"] = "application/json"
        reply = await self._http.post(self.url, content=orjson.dumps(body), headers=headers)
        if reply.status_code != 200:
            log.warning("the image service answered %s: %s", reply.status_code, reply.text[:500])
            raise ValueError(f"the image service answered {reply.status_code}")
        data = reply.json().get("data") if reply.content else None
        first = data[0] if isinstance(data, list) and data else None
        if not isinstance(first, dict):
            raise ValueError("the image service sent no image")
        revised = first.get("revised_prompt")
        revised = revised if isinstance(revised, str) else None
        if isinstance(first.get("b64_json"), str):
            try:
                base64.b64decode(first["b64_json"], validate=True)
            except binascii.Error:
                raise ValueError("the image service sent an image that is not base64") from None
            return first["b64_json"], revised
        if isinstance(first.get("url"), str):
            return base64.b64encode(await self._fetch(first["url"])).decode(), revised
        raise ValueError("the image service sent no image")

    async def _fetch(self, url: str) -> bytes:
        assert self._http is not None
        async with self._http.stream("GET", url) as reply:
            if reply.status_code != 200:
                raise ValueError(f"the image's URL answered {reply.status_code}")
            chunks, size = [], 0
            async for chunk in reply.aiter_bytes():
                size += len(chunk)
                if size > MAX_IMAGE_BYTES:
                    raise ValueError("the image is too big")
                chunks.append(chunk)
        return b"".join(chunks)

    def resume(self, history: list[Item], input_items: list[Item]) -> list[ToolJob]:
        return []

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()


def model_items(items: list[Item]) -> list[Item]:
    """Each image_generation_call as the function call and result the model saw (it never
    sees the image itself: the user does)."""
    view: list[Item] = []
    for item in items:
        if not isinstance(item, ImageGenerationCall):
            view.append(item)
            continue
        call_id = item.id or ""  # ours always have one; a replayed hosted one may not
        arguments = orjson.dumps({"prompt": item.revised_prompt or ""}).decode()
        view.append(FunctionCall(call_id=call_id, name=FUNCTION, arguments=arguments))
        if item.status == "completed" or (item.status is None and item.result):
            text = SHOWN
        else:
            why = (item.error or {}).get("message") or "it failed"
            text = f"The image could not be made: {why}."
        view.append(FunctionCallOutput(call_id=call_id, output=text))
    return view
