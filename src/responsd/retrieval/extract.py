"""A file's text, for the model (`input_file`) and for indexing (vector stores).

Recognised by content first, then by name: PDF (pypdf), Word .docx (its XML), HTML (the
visible text), and anything that decodes as text (plain text, Markdown, code, JSON, CSV …).
Images and other binary formats have no text to give: `UnreadableFile`.
"""

import io
import re
import zipfile
from html.parser import HTMLParser
from typing import Any
from xml.etree import ElementTree

_IMAGE_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"RIFF", b"BM")
_HTML_NAMES = (".html", ".htm", ".xhtml")
_HTML_START = re.compile(rb"^\s*(<!doctype html|<html)", re.IGNORECASE)
_WORD_NS = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


class UnreadableFile(Exception):
    """The file holds no text this server can read; the message says why."""

    def __init__(self, message: str, code: str = "unsupported_file") -> None:
        super().__init__(message)
        self.code = code


def extract_text(data: bytes, filename: str) -> str:
    """The text of a file's bytes; raises UnreadableFile."""
    name = filename.lower()
    if data.startswith(b"%PDF"):
        text = _pdf(data)
    elif data.startswith(b"PK") and name.endswith(".docx") or _is_docx(data):
        text = _docx(data)
    elif name.endswith(_HTML_NAMES) or _HTML_START.match(data[:200]):
        text = _html(_decode(data, filename))
    elif data.startswith(_IMAGE_MAGIC):
        raise UnreadableFile(f"'{filename}' is an image; it has no text to read.")
    else:
        text = _decode(data, filename)
    if not text.strip():
        raise UnreadableFile(f"No text could be read from '{filename}'.", code="invalid_file")
    return text


def _decode(data: bytes, filename: str) -> str:
    for bom, encoding in (
        (b"\xef\xbb\xbf", "utf-8-sig"),
        (b"\xff\xfe", "utf-16"),
        (b"\xfe\xff", "utf-16"),
    ):
        if data.startswith(bom):
            return data.decode(encoding, errors="replace")
    if b"\x00" in data[:8192]:
        raise UnreadableFile(
            f"'{filename}' is a binary file of a type this server cannot read; send text, "
            "Markdown, HTML, code, JSON, CSV, PDF or .docx."
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")  # every byte is a character: text in an old encoding


_SCAN_FOR_OBJECTS = b"\nstartxref\n0\n%%EOF\n"
"""Appended to a PDF pypdf cannot open: a cross-reference pointer that is surely wrong makes
it rebuild the table by scanning the file's objects, as PDF viewers do. Hand-written PDFs
(the Open Responses compliance suite's `file-input` fixture) often have no table at all."""


def _open_pdf(data: bytes) -> Any:
    # Imported on the first PDF: pypdf (with the cryptography it loads) is ~13 MiB of memory.
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        return PdfReader(io.BytesIO(data))
    except PyPdfError as first:
        try:
            return PdfReader(io.BytesIO(data + _SCAN_FOR_OBJECTS))
        except PyPdfError:
            raise first from None


def _pdf(data: bytes) -> str:
    from pypdf.errors import PyPdfError

    try:
        reader = _open_pdf(data)
        if reader.is_encrypted:
            raise UnreadableFile(
                "The PDF is encrypted; send it without a password.", "invalid_file"
            )
        return "\n\n".join(page.extract_text() or "" for page in reader.pages)
    except (PyPdfError, ValueError, KeyError, TypeError) as exc:
        raise UnreadableFile(f"The PDF could not be read: {exc}", code="invalid_file") from exc


def _is_docx(data: bytes) -> bool:
    if not data.startswith(b"PK"):
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return "word/document.xml" in archive.namelist()
    except zipfile.BadZipFile:
        return False


def _docx(data: bytes) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            root = ElementTree.fromstring(archive.read("word/document.xml"))
    except (zipfile.BadZipFile, KeyError, ElementTree.ParseError) as exc:
        raise UnreadableFile(f"The .docx file could not be read: {exc}", "invalid_file") from exc
    paragraphs = []
    for paragraph in root.iter(f"{_WORD_NS}p"):
        runs = [node.text or "" for node in paragraph.iter() if node.tag == f"{_WORD_NS}t"]
        paragraphs.append("".join(runs))
    return "\n".join(paragraphs)


class _VisibleText(HTMLParser):
    _HIDDEN = {"script", "style", "head", "template", "noscript"}
    _BREAKS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag in self._HIDDEN:
            self.hidden += 1
        elif tag in self._BREAKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._HIDDEN and self.hidden:
            self.hidden -= 1
        elif tag in self._BREAKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)


def _html(markup: str) -> str:
    parser = _VisibleText()
    parser.feed(markup)
    parser.close()
    text = "".join(parser.parts)
    return re.sub(r"\n\s*\n+", "\n\n", re.sub(r"[ \t]+", " ", text)).strip()
