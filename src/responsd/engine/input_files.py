"""Files in messages and tool outputs, made readable for the model.

An `input_file` part (by `file_id`, `file_url` or inline `file_data`) reaches the model as
the file's text (retrieval/extract.py: PDF, .docx, HTML, text and code), headed by its name;
an `input_image` given by `file_id` (and a computer screenshot given by `file_id`) reaches it
as a data URL. Items are stored as the client sent them: only the model's view changes. A
part this server cannot read is a 400 naming it; in stored history, a file deleted since
shows as a note instead of failing every later turn. `file_url` is fetched through the
outbound guard (no private networks), size-capped.
"""

import base64
import binascii
import hashlib
from typing import Any

import httpx2

from responsd.concurrency import offload
from responsd.engine.library import Library
from responsd.errors import InvalidRequestError, NotFoundError
from responsd.tools.netguard import check_url, guarded_client
from responsd.types.client_run_items import ComputerCallOutput, ComputerScreenshot
from responsd.types.content import InputFile, InputImage, InputText
from responsd.types.items import CustomToolCallOutput, FunctionCallOutput, Item, Message

FETCH_TIMEOUT = 30.0
_IMAGE_TYPES = {
    b"\x89PNG": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
    b"GIF8": "image/gif",
    b"RIFF": "image/webp",
}


def has_files(item: Item) -> bool:
    # Plain loops, not any(genexpr): this runs over every history item on every turn.
    if isinstance(item, Message):
        parts = item.content
    elif isinstance(item, FunctionCallOutput | CustomToolCallOutput):
        parts = item.output
    elif isinstance(item, ComputerCallOutput):
        return item.output.image_url is None
    else:
        return False
    if isinstance(parts, str):
        return False
    for part in parts:
        if isinstance(part, InputFile) or (isinstance(part, InputImage) and part.file_id):
            return True
    return False


def _any_files(items: list[Item]) -> bool:
    return any(map(has_files, items))


class FileReader:
    def __init__(self, library: Library, allow_private: bool, max_bytes: int) -> None:
        self.library = library
        self.allow_private = allow_private
        self.max_bytes = max_bytes

    async def readable(self, items: list[Item], where: str, history: bool = False) -> list[Item]:
        """`items` with their file parts replaced for the model (the same list if none)."""
        # A long history is scanned off the event loop (100,000 items: ~0.1 s of Python).
        if not await offload(len(items), _any_files, items):
            return items
        view: list[Item] = []
        for i, item in enumerate(items):
            if not has_files(item):
                view.append(item)
            elif isinstance(item, ComputerCallOutput):
                param = f"{where}[{i}].output" if not history else where
                view.append(await self._screenshot(item, param, history))
            else:
                field = "content" if isinstance(item, Message) else "output"
                parts = getattr(item, field)
                param = f"{where}[{i}].{field}" if not history else where
                readable = await self._parts(parts, param, history)
                view.append(item.model_copy(update={field: readable}))
        return view

    async def _parts(self, parts: list[Any], param: str, history: bool) -> list[Any]:
        readable = []
        for j, part in enumerate(parts):
            try:
                readable.append(await self._part(part, param if history else f"{param}[{j}]"))
            except NotFoundError:
                if not history:
                    raise
                gone = getattr(part, "file_id", "")
                readable.append(InputText(text=f"[A file given here ({gone}) was deleted.]"))
        return readable

    async def _screenshot(
        self, item: ComputerCallOutput, param: str, history: bool
    ) -> ComputerCallOutput:
        """A computer screenshot given by file_id, as a data URL (a deleted one in history
        stays as it was: the model is told it is gone, tools/client_run.py)."""
        shot = InputImage(file_id=item.output.file_id)
        try:
            url = (await self._part(shot, param)).image_url
        except NotFoundError:
            if not history:
                raise
            return item
        return item.model_copy(update={"output": ComputerScreenshot(image_url=url)})

    async def _part(self, part: Any, param: str) -> Any:
        if isinstance(part, InputImage) and part.file_id:
            data = await self.library.file_bytes(part.file_id, f"{param}.file_id")
            kind = next((t for magic, t in _IMAGE_TYPES.items() if data.startswith(magic)), None)
            if kind is None:
                raise InvalidRequestError(
                    f"File '{part.file_id}' is not a PNG, JPEG, GIF or WebP image.",
                    param=f"{param}.file_id",
                )
            url = f"data:{kind};base64,{base64.b64encode(data).decode()}"
            return InputImage(image_url=url, detail=part.detail)
        if not isinstance(part, InputFile):
            return part
        if part.file_id:
            filename, text = await self.library.file_text(part.file_id, f"{param}.file_id")
        elif part.file_data:
            filename = part.filename or "file"
            text = await self._inline(part.file_data, filename, f"{param}.file_data")
        elif part.file_url:
            filename = part.filename or part.file_url.rsplit("/", 1)[-1] or "file"
            text = await self._fetch(part.file_url, filename, f"{param}.file_url")
        else:
            raise InvalidRequestError(
                "An input_file needs file_id, file_url or file_data.", param=param
            )
        return InputText(text=f"[File: {filename}]\n{text}")

    async def _inline(self, value: str, filename: str, param: str) -> str:
        encoded = value.split(",", 1)[1] if value.startswith("data:") else value
        key = "data:" + hashlib.sha256(encoded.encode()).hexdigest()
        if (cached := self.library.cached_text(key)) is not None:
            return cached
        try:
            data = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidRequestError(
                "file_data must be base64 (or a base64 data URL).", param=param
            ) from exc
        text = await self.library.to_text(data, filename, param)
        self.library.remember_text(key, text)
        return text

    async def _fetch(self, url: str, filename: str, param: str) -> str:
        await check_url(url, param, self.allow_private)
        chunks: list[bytes] = []
        size = 0
        try:
            client = guarded_client(self.allow_private, timeout=httpx2.Timeout(FETCH_TIMEOUT))
            async with client, client.stream("GET", url, follow_redirects=True) as reply:
                if reply.status_code != 200:
                    raise InvalidRequestError(
                        f"Fetching {url} answered HTTP {reply.status_code}.", param=param
                    )
                async for chunk in reply.aiter_bytes():
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise InvalidRequestError(
                            f"The file at {url} is over this server's limit of "
                            f"{self.max_bytes} bytes.",
                            param=param,
                        )
                    chunks.append(chunk)
        except httpx2.HTTPError as exc:
            raise InvalidRequestError(
                f"The file at {url} could not be fetched: {exc}", param=param
            ) from exc
        return await self.library.to_text(b"".join(chunks), filename, param)
