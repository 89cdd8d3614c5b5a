"""Citation markers in streamed text → `file_citation` and `url_citation` annotations.

The file_search and web_search tools show the model numbered sources and ask it to cite them
as `[n]` (or `[n, m]`). As text streams, a marker naming known sources is cut out of the text
(with one space before it) and becomes one annotation per source: a file citation at the
character position where it stood (`index`), a URL citation spanning the sentence it ends
(`start_index` to `end_index`). Any other bracketed text is left as written. Text that could
still become a marker (`… [1` at the end of a delta) is held back until the next delta
decides, so the deltas a client sees add up to exactly the final text.
"""

import re
from typing import Any

from responsd.tools.file_search import Citations

_MARKER = re.compile(r" ?\[(\d+(?:\s*,\s*\d+)*)\]")
_PARTIAL = re.compile(r"( ?\[[\d,\s]{0,24}| )$")
_SENTENCE_END = re.compile(r"[.!?](?=\s)|\n")
RECENT = 2000
"""Characters of emitted text kept to find where a cited sentence starts."""


class CitationFilter:
    def __init__(self, citations: Citations) -> None:
        self.citations = citations
        self.pending = ""
        self.length = 0
        """Characters of clean text emitted so far (the next annotation's index)."""
        self.recent = ""
        """The last RECENT characters of that text."""

    def feed(self, delta: str) -> tuple[str, list[dict[str, Any]]]:
        """Clean text to emit now, and the annotations that precede its end."""
        text = self.pending + delta
        partial = _PARTIAL.search(text)
        cut = partial.start() if partial else len(text)
        self.pending = text[cut:]
        return self._clean(text[:cut])

    def flush(self) -> tuple[str, list[dict[str, Any]]]:
        text, self.pending = self.pending, ""
        return self._clean(text)

    def _clean(self, text: str) -> tuple[str, list[dict[str, Any]]]:
        out: list[str] = []
        annotations: list[dict[str, Any]] = []
        position = 0
        for match in _MARKER.finditer(text):
            numbers = [int(n) for n in re.findall(r"\d+", match.group(1))]
            if not all(n in self.citations.sources for n in numbers):
                continue
            self._emit(text[position : match.start()], out)
            position = match.end()
            for n in dict.fromkeys(numbers):
                source = self.citations.sources[n]
                if source["type"] == "url_citation":
                    span = {"start_index": self._sentence_start(), "end_index": self.length}
                    annotations.append({**source, **span})
                else:
                    annotations.append({**source, "index": self.length})
        self._emit(text[position:], out)
        return "".join(out), annotations

    def _emit(self, text: str, out: list[str]) -> None:
        out.append(text)
        self.length += len(text)
        self.recent = (self.recent + text)[-RECENT:]

    def _sentence_start(self) -> int:
        """Where the sentence the text so far ends with starts (its own end left aside)."""
        body = self.recent.rstrip()
        body = body[:-1] if body.endswith((".", "!", "?")) else body
        ends = [m.end() for m in _SENTENCE_END.finditer(body)]
        start = ends[-1] if ends else 0
        while start < len(body) and body[start].isspace():
            start += 1
        return self.length - len(self.recent) + start
