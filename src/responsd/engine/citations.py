"""Citation markers in streamed text → `file_citation` annotations.

The file_search tool shows the model numbered sources and asks it to cite them as `[n]` (or
`[n, m]`). As text streams, a marker naming known sources is cut out of the text (with one
space before it) and becomes one annotation per source at the character position where it
stood; any other bracketed text is left as written. Text that could still become a marker
(`… [1` at the end of a delta) is held back until the next delta decides, so the deltas a
client sees add up to exactly the final text.
"""

import re
from typing import Any

from responsd.tools.file_search import Citations

_MARKER = re.compile(r" ?\[(\d+(?:\s*,\s*\d+)*)\]")
_PARTIAL = re.compile(r"( ?\[[\d,\s]{0,24}| )$")


class CitationFilter:
    def __init__(self, citations: Citations) -> None:
        self.citations = citations
        self.pending = ""
        self.length = 0
        """Characters of clean text emitted so far (the next annotation's index)."""

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
            out.append(text[position : match.start()])
            self.length += match.start() - position
            position = match.end()
            for n in dict.fromkeys(numbers):
                file_id, filename = self.citations.sources[n]
                annotations.append(
                    {
                        "type": "file_citation",
                        "file_id": file_id,
                        "filename": filename,
                        "index": self.length,
                    }
                )
        out.append(text[position:])
        self.length += len(text) - position
        return "".join(out), annotations
