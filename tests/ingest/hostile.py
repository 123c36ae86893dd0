"""Generators for hostile and broken inputs (written into a temp folder by the tests)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

XLINK = 'xmlns:xlink="http://www.w3.org/1999/xlink"'


def article(body_figs: str, *, title: str = "Hostile test article", pmcid: str = "1", extra_body: str = "",
            doctype: str = "") -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>{doctype}
<article {XLINK}><front><article-meta><article-id pub-id-type="pmc">{pmcid}</article-id>
<title-group><article-title>{title}</article-title></title-group></article-meta></front>
<body><sec><p>See <xref ref-type="fig" rid="f1">Figure 1</xref>.</p>{extra_body}{body_figs}</sec></body></article>"""


def fig(fid: str, href: str | None, caption: str | None = "A caption.") -> str:
    cap = f"<caption><p>{caption}</p></caption>" if caption is not None else ""
    graphic = f'<graphic xlink:href="{href}"/>' if href is not None else ""
    return f'<fig id="{fid}"><label>Figure {fid[1:]}</label>{cap}{graphic}</fig>'


def png_bytes(size=(64, 48), mode="RGB", color=(200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    img = Image.new("RGB", size, color)
    if mode != "RGB":
        img = img.convert(mode)
    img.save(buf, format="PNG")
    return buf.getvalue()


def jpeg_bytes(size=(64, 48)) -> bytes:
    arr = (np.indices((size[1], size[0])).sum(axis=0) % 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).convert("RGB").save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.write_bytes(data)
    return path
