"""The hosted API's `image_generation` tool, run on an image service the operator names.

- The service is an OpenAI-compatible Images API (`images_url`, e.g. `http://host/v1`):
  `POST <url>/images/generations` with `{prompt, n: 1}` and the tool's settings that were
  given (`model`, `size`, `quality`, `background`, `output_format`, `output_compression`,
  `moderation`), answering `{"data": [{"b64_json"} or {"url"}, "revised_prompt"?]}`. It is
  the operator's own service (LocalAI, a stable-diffusion server, OpenAI itself with
  `images_api_key`), so it is not held to the private-network guard, and an image it
  answers with by `url` is fetched from it.
- To the model it is one function, `image_generation`, taking a `prompt` (and, with
  `action: "auto"`, the default, whether to `edit` the latest image instead of making a new
  one); each call is an `image_generation_call` item (`result`: the image, base64) with its
  in_progress → generating → completed events. The model does not see the image: it is told
  that the user does. A service that fails makes the item `failed` and the model is told so.
- An edit (`action: "edit"`, or the model's choice) is `POST <url>/images/edits` (multipart)
  of the latest image in the context: one this tool made (earlier in the response or the
  conversation), or the last image a user message holds (a data URL or an uploaded file),
  with `input_image_mask` (a data URL or a file) and `input_fidelity` when given.
- `partial_images` (streamed previews) is refused by name.
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
from responsd.tools.base import (
    ToolJob,
    ToolProgress,
    as_function_calls,
    refuse_unknown,
    strict_object,
    text_argument,
    unknown_settings,
)
from responsd.types.content import InputImage
from responsd.types.events import (
    ResponseImageGenCallCompletedEvent,
    ResponseImageGenCallGeneratingEvent,
    ResponseImageGenCallInProgressEvent,
)
from responsd.types.items import (
    ImageGenerationCall,
    Item,
    Message,
)
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
_PROMPT = {"type": "string", "description": "What the image shows."}
PARAMETERS = strict_object(prompt=_PROMPT)
EDIT_DESCRIPTION = (
    " Set `edit` to true to change the latest image of the conversation (the user's or one "
    "you made) as the prompt says, false to make a new image."
)
PARAMETERS_WITH_EDIT = strict_object(
    prompt=_PROMPT,
    edit={"type": "boolean", "description": "Change the latest image instead."},
)
SHOWN = "The image was made and shown to the user."
_PASSED = ("model", "size", "quality", "background", "output_format", "output_compression")
"""The tool's settings sent to the service as they are (with `moderation`)."""
_KEPT = ("size", "quality", "background", "output_format")
"""Settings the item reports, as given."""


class ImageGeneration:
    """One `image_generation` entry of a request's tools."""

    def __init__(
        self, config: ImageGenerationTool, url: str, api_key: str | None, library: Any = None
    ):
        self.config = config
        self.url = url.rstrip("/")
        self.api_key = api_key
        self.library = library
        """The user's files (an image or mask given by file_id)."""
        self._latest: InputImage | None = None
        """The latest image in the context: what an edit changes (setup, then each made)."""
        self._http: httpx.AsyncClient | None = None

    async def check(self, param: str) -> None:
        config = self.config
        if config.partial_images:
            raise UnsupportedParameterError(
                "This server sends each image whole, without previews; leave out "
                f"{param}.partial_images or set it to 0.",
                param=f"{param}.partial_images",
            )
        for name in ("input_image_mask", "input_fidelity"):
            if config.action == "generate" and getattr(config, name) is not None:
                raise UnsupportedParameterError(
                    f"{param}.{name} is for edits, and {param}.action is 'generate'.",
                    param=f"{param}.{name}",
                )
        mask = config.input_image_mask or {}
        if mask and not (mask.get("file_id") or str(mask.get("image_url")).startswith("data:")):
            raise UnsupportedParameterError(
                "input_image_mask must be a data URL (`image_url`) or an uploaded file "
                "(`file_id`) here.",
                param=f"{param}.input_image_mask",
            )
        refuse_unknown(unknown_settings(config, param), "this server's image generation")

    def setup(self, context: list[Item]) -> ToolJob | None:
        self._latest = _latest_image(context)
        return None

    def functions(self) -> list[ToolSpec]:
        if self.config.action in (None, "auto"):
            description, parameters = DESCRIPTION + EDIT_DESCRIPTION, PARAMETERS_WITH_EDIT
        else:
            description, parameters = DESCRIPTION, PARAMETERS
        return [ToolSpec(FUNCTION, "function", description, parameters, True, builtin=True)]

    def owns(self, function: str) -> bool:
        return function == FUNCTION

    def call(self, spec: ToolSpec, arguments: str) -> list[ToolJob]:
        kept = {key: getattr(self.config, key) for key in _KEPT}
        edit = self.config.action == "edit" or (
            self.config.action != "generate" and _wants_edit(arguments)
        )
        item = ImageGenerationCall(
            id=new_item_id("image_generation_call"),
            status="in_progress",
            revised_prompt=text_argument(arguments, "prompt"),
            action="edit" if edit else "generate",
            **{key: value for key, value in kept.items() if value is not None},
        )
        return [ToolJob(item, lambda index: self._run(item, index))]

    async def _run(self, item: ImageGenerationCall, index: int) -> ToolProgress:
        ids: dict[str, Any] = {"item_id": item.id, "output_index": index}
        yield ResponseImageGenCallInProgressEvent(**ids)
        yield ResponseImageGenCallGeneratingEvent(**ids)
        try:
            result, revised = await self._make(item.revised_prompt or "", item.action == "edit")
        except (httpx.HTTPError, ValueError) as exc:
            # The operator's log gets the details; the model (and so the user) gets no URL.
            log.warning("image generation failed: %r", exc)
            why = str(exc) if isinstance(exc, ValueError) else "it could not be reached"
            error = {"type": "server_error", "code": "image_service_failed", "message": why}
            yield item.model_copy(update={"status": "failed", "error": error})
            return
        self._latest = InputImage(image_url=f"data:image/png;base64,{result}")
        yield ResponseImageGenCallCompletedEvent(**ids)
        update: dict[str, Any] = {"status": "completed", "result": result}
        if revised:
            update["revised_prompt"] = revised
        yield item.model_copy(update=update)

    async def _make(self, prompt: str, edit: bool) -> tuple[str, str | None]:
        """The image (base64) and the prompt the service says it used."""
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=TIMEOUT)
        body: dict[str, Any] = {"prompt": prompt, "n": 1}
        for key in (*_PASSED, "moderation", *(("input_fidelity",) if edit else ())):
            if (value := getattr(self.config, key)) is not None:
                body[key] = value
        # The key goes with this request only: an image answered by URL may be elsewhere.
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        if edit:
            if self._latest is None:
                raise ValueError("there is no image in the conversation to edit")
            files = {"image": _upload("image", await self._bytes(self._latest))}
            if self.config.input_image_mask:
                mask = InputImage.model_validate(self.config.input_image_mask)
                files["mask"] = _upload("mask", await self._bytes(mask))
            form = {key: str(value) for key, value in body.items()}
            reply = await self._http.post(
                f"{self.url}/images/edits", data=form, files=files, headers=headers
            )
        else:
            headers["Content-Type"] = "application/json"
            reply = await self._http.post(
                f"{self.url}/images/generations", content=orjson.dumps(body), headers=headers
            )
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

    async def _bytes(self, image: InputImage) -> bytes:
        """An image to send: a data URL's bytes, or an uploaded file's."""
        if image.file_id:
            if self.library is None:
                raise ValueError("uploaded files cannot be read here")
            return bytes(await self.library.file_bytes(image.file_id, "file_id"))
        url = image.image_url or ""
        if not url.startswith("data:") or "," not in url:
            raise ValueError("only images given as data URLs or uploaded files can be edited")
        try:
            return base64.b64decode(url.split(",", 1)[1], validate=True)
        except binascii.Error:
            raise ValueError("the image to edit is not valid base64") from None

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


_KINDS = {b"\x89PNG": ("png", "image/png"), b"\xff\xd8\xff": ("jpg", "image/jpeg")}


def _upload(name: str, data: bytes) -> tuple[str, bytes, str]:
    """A multipart file part for `data`, named and typed by its format (PNG by default)."""
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return f"{name}.webp", data, "image/webp"
    kind = next((k for magic, k in _KINDS.items() if data.startswith(magic)), ("png", "image/png"))
    return f"{name}.{kind[0]}", data, kind[1]


def _wants_edit(arguments: str) -> bool:
    try:
        value = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        return False
    return isinstance(value, dict) and value.get("edit") is True


def _latest_image(context: list[Item]) -> InputImage | None:
    """The latest image of the context: one this tool made, or one in a user message."""
    for item in reversed(context):
        if isinstance(item, ImageGenerationCall) and item.result:
            return InputImage(image_url=f"data:image/png;base64,{item.result}")
        if isinstance(item, Message) and item.role == "user" and not isinstance(item.content, str):
            for part in reversed(item.content):
                if isinstance(part, InputImage):
                    return part
    return None


def model_items(items: list[Item]) -> list[Item]:
    """Each image_generation_call as the function call and result the model saw (it never
    sees the image itself: the user does)."""
    return as_function_calls(items, ImageGenerationCall, _seen)


def _seen(item: ImageGenerationCall) -> tuple[str, dict[str, Any], str]:
    called: dict[str, Any] = {"prompt": item.revised_prompt or ""}
    if item.action == "edit":
        called["edit"] = True
    if item.status == "completed" or (item.status is None and item.result):
        return FUNCTION, called, SHOWN
    why = (item.error or {}).get("message") or "it failed"
    return FUNCTION, called, f"The image could not be made: {why}."
