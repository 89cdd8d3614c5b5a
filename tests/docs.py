"""Documents for the file tests: plain text, and a real PDF and .docx written by hand."""

import io
import zipfile

HANDBOOK = """# Employee handbook

## Parental leave
Employees receive sixteen weeks of paid parental leave after the birth or adoption of a
child. Leave may start up to two weeks before the expected date.

## Cafeteria
The cafeteria opens at 8am and serves lunch until 2pm on working days.

## Equipment
Every new hire gets a laptop and a monitor on the first day; lost equipment is replaced
once a year at no cost.
"""

TRAVEL = """# Travel policy
Book flights through the travel desk at least fourteen days ahead. Economy class is the
rule for trips under six hours. Hotel costs are refunded up to 180 euros per night.
"""


def pdf(text: str, xref: bool = True) -> bytes:
    """A one-page PDF showing `text` (one line per text line), with a valid xref table, or
    with none (`xref=False`: a trailer only, as in hand-written PDFs)."""
    lines = text.splitlines()
    ops = ["BT", "/F1 11 Tf", "14 TL", "50 780 Td"]
    for line in lines:
        escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        ops.append(f"({escaped}) Tj T*")
    ops.append("ET")
    stream = "\n".join(ops).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 842] "
        b"/Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(f"{n} 0 obj\n".encode() + body + b"\nendobj\n")
    if not xref:
        out.write(b"trailer\n<< /Root 1 0 R >>\n%%EOF\n")
        return out.getvalue()
    table = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{table}\n%%EOF\n".encode()
    )
    return out.getvalue()


def docx(paragraphs: list[str]) -> bytes:
    """A minimal .docx (WordprocessingML) holding `paragraphs`."""
    ns = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
    body = "".join(f"<w:p><w:r><w:t>{p}</w:t></w:r></w:p>" for p in paragraphs)
    document = (
        f'<?xml version="1.0"?><w:document xmlns:w="{ns}"><w:body>{body}</w:body></w:document>'
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", document)
    return out.getvalue()
