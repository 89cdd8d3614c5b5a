"""Split `<think>…</think>` out of streamed text, for models that write their reasoning inline."""

OPEN, CLOSE = "<think>", "</think>"


class ThinkSplitter:
    """Feed text chunks; get back ("reasoning" | "text", piece) pairs in order.

    A tag may arrive split across chunks, so a tail that could still become one is held back
    until the next chunk (or `flush`)."""

    def __init__(self) -> None:
        self._inside = False
        self._held = ""

    def feed(self, chunk: str) -> list[tuple[str, str]]:
        text, self._held = self._held + chunk, ""
        out: list[tuple[str, str]] = []
        while text:
            tag = CLOSE if self._inside else OPEN
            kind = "reasoning" if self._inside else "text"
            at = text.find(tag)
            if at >= 0:
                if text[:at]:
                    out.append((kind, text[:at]))
                self._inside = not self._inside
                text = text[at + len(tag) :]
                continue
            keep = next((n for n in range(len(tag) - 1, 0, -1) if text.endswith(tag[:n])), 0)
            if text[: len(text) - keep]:
                out.append((kind, text[: len(text) - keep]))
            self._held = text[len(text) - keep :]
            break
        return out

    def flush(self) -> list[tuple[str, str]]:
        held, self._held = self._held, ""
        return [("reasoning" if self._inside else "text", held)] if held else []
