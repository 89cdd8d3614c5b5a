"""A web page's text for the model (`web_search`'s open_page): fetched on the user's behalf,
so through the outbound guard (tools/netguard.py: no private networks, redirects checked
too), size- and time-capped, its visible text read as files are (retrieval/extract.py)."""

import asyncio
import html
import re
from urllib.parse import urlsplit

import httpx2

from responsd.retrieval.extract import UnreadableFile, extract_text
from responsd.tools.netguard import PrivateAddressError, guarded_client

TIMEOUT = 15.0
"""Seconds one read (connect, each chunk) may take; the whole page, twice that."""
MAX_BYTES = 5 * 1024 * 1024
_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


class PageError(Exception):
    """Why a page could not be read, in words the model (and the user) may see."""


async def fetch_page(url: str, allow_private: bool) -> tuple[str, str]:
    """The page's title (its URL when it has none) and its visible text; raises PageError."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PageError("only http(s) URLs can be opened")
    chunks: list[bytes] = []
    size = 0
    try:
        client = guarded_client(allow_private, timeout=httpx2.Timeout(TIMEOUT))
        async with (
            asyncio.timeout(2 * TIMEOUT),  # a page sent slowly, chunk by chunk, ends too
            client,
            client.stream("GET", url, follow_redirects=True) as reply,
        ):
            if reply.status_code != 200:
                raise PageError(f"the page answered HTTP {reply.status_code}")
            async for chunk in reply.aiter_bytes():
                size += len(chunk)
                if size > MAX_BYTES:
                    raise PageError(f"the page is over {MAX_BYTES // (1024 * 1024)} MiB")
                chunks.append(chunk)
    except TimeoutError as exc:
        raise PageError("the page took too long") from exc
    except httpx2.HTTPError as exc:
        if isinstance(exc.__cause__ or exc.__context__, PrivateAddressError):
            raise PageError("the page is on a network this server may not reach") from exc
        if isinstance(exc, httpx2.ConnectError | httpx2.TimeoutException):
            raise PageError("the page could not be reached") from exc
        raise PageError("the page could not be read") from exc
    data = b"".join(chunks)
    name = parts.path.rsplit("/", 1)[-1] or "page.html"
    try:
        text = await asyncio.to_thread(extract_text, data, name)
    except UnreadableFile as exc:
        raise PageError(str(exc)) from exc
    found = _TITLE.search(data[:65536])
    title = html.unescape(found.group(1).decode("utf-8", "replace")).strip() if found else ""
    return " ".join(title.split()) or url, text
