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


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares width x height pixels but carries almost no data (a decompression bomb shape)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


# Whole documents that must each be refused (file name stem -> (document, expected reason value)).
BAD_XML = {
    "xxe": ('<?xml version="1.0"?><!DOCTYPE article [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
            '<article><front/><body><fig id="f1"><caption><p>&xxe;</p></caption></fig></body></article>',
            "xml-forbidden"),
    "laughs": ('<?xml version="1.0"?><!DOCTYPE article [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
               '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]><article>&d;</article>',
               "xml-forbidden"),
    "param": ('<?xml version="1.0"?><!DOCTYPE article [<!ENTITY % p SYSTEM "http://example.invalid/x.dtd"> %p;]><article/>',
              "xml-forbidden"),
    "malformed": ("<article><body><p>unclosed</body></article>", "xml-malformed"),
    "truncated": (article(fig("f1", "x"))[:150], "xml-malformed"),
    "wrongroot": ('<?xml version="1.0"?><html><body/></html>', "xml-wrong-root"),
    "empty": ("", "xml-malformed"),
}


def hostile_corpus(root: Path, outside: Path) -> list[tuple[str, str, str, str]]:
    """Write one folder of bad inputs under `root` (files that escape it point into `outside`).
    Returns the expected rejects as (kind, reject item or figure id, reason value, text the detail
    must contain). Every bad article uses its own PMCID 77xx, so good articles never collide."""
    import os

    cases: list[tuple[str, str, str, str]] = []
    for name, (doc, reason) in BAD_XML.items():
        write(root / "xml" / f"{name}.xml", doc)
        cases.append((name, f"xml/{name}.xml", reason, f"{name}.xml"))
    dtd = write(outside / "evil.dtd", '<!ENTITY secret "LEAKED-FROM-DTD">')
    write(root / "xml" / "extdtd.xml", f'<?xml version="1.0"?><!DOCTYPE article SYSTEM "file://{dtd}"><article><body>'
                                       '<fig id="f1"><caption><p>&secret;</p></caption></fig></body></article>')
    cases.append(("external DTD", "xml/extdtd.xml", "xml-forbidden", "extdtd.xml"))
    write(root / "enc" / "latin.xml",
          article(fig("f1", None), pmcid="7701").encode().replace(b"A caption.", b"caf\xe9 \xff caption"))
    cases.append(("non-UTF-8", "enc/latin.xml", "encoding", "latin.xml"))
    write(root / "json" / "records.json", '{"records": [{"image": "a.png", "caption": ')
    cases.append(("malformed JSON records", "json/records.json", "input-invalid", "records.json"))
    os.symlink(root / "xml" / "does-not-exist.xml", root / "xml" / "dangling.xml")
    cases.append(("unreadable file (dangling link)", "xml/dangling.xml", "input-unreadable", "dangling.xml"))
    write(outside / "elsewhere.xml", article(fig("f1", None), pmcid="7702"))
    os.symlink(outside / "elsewhere.xml", root / "xml" / "linked.xml")
    cases.append(("symlinked document escaping the input", "xml/linked.xml", "path-outside-input", "linked.xml"))

    # One article whose figures each carry a different problem (and four unusual but valid images).
    art = root / "images"
    write(outside / "secret.png", png_bytes())
    write(art / "zero.png", b"")
    write(art / "trunc.jpg", jpeg_bytes((400, 300))[:600])
    write(art / "trunc.png", png_bytes((300, 200))[:120])
    write(art / "bomb.png", png_header_only(40_000, 40_000))
    os.symlink(outside / "secret.png", art / "link.png")
    figs = [("f1", "zero.png", "image-empty", "zero.png"), ("f2", "trunc.jpg", "image-corrupt", "trunc.jpg"),
            ("f3", "trunc.png", "image-corrupt", "trunc.png"), ("f4", "bomb.png", "image-too-large", "bomb.png"),
            ("f5", os.path.relpath(outside / "secret.png", art), "path-outside-input", "secret.png"),
            ("f6", "/etc/passwd", "path-outside-input", "/etc/passwd"),
            ("f7", "link.png", "path-outside-input", "link.png")]
    body = "".join(fig(fid, href) for fid, href, *_ in figs)
    body += fig("f8", None, caption="x " * 30_000) + fig("f9", None, caption=None)
    frames = [Image.new("P", (120, 90), i) for i in (10, 120)]
    frames[0].save(write(art / "anim.gif", b""), save_all=True, append_images=frames[1:], duration=50)
    Image.new("CMYK", (120, 90), (0, 120, 200, 10)).save(write(art / "cmyk.jpg", b""), format="JPEG")
    write(art / "deep.png", png_bytes((120, 90), mode="I;16"))
    write(art / "palette.png", png_bytes((120, 90), mode="P"))
    body += "".join(fig(f"f{10 + i}", name) for i, name in enumerate(("anim.gif", "cmyk.jpg", "deep.png", "palette.png")))
    write(art / "images.xml", article(body, pmcid="7703"))
    cases += [(f"image {name}", f"PMC7703/{fid}", reason, text) for fid, _, reason, text in figs]
    cases += [("huge caption", "PMC7703/f8", "caption-too-long", "PMC7703/f8"),
              ("figure without caption", "PMC7703/f9", "caption-missing", "PMC7703/f9")]
    # The same article id twice: the second file's figure is a duplicate.
    write(root / "dup" / "a.xml", article(fig("f1", None), pmcid="7704"))
    write(root / "dup" / "b.xml", article(fig("f1", None, caption="Same ids again."), pmcid="7704"))
    cases.append(("duplicate ids", "PMC7704/f1", "duplicate-id", "b.xml"))
    (root / "empty-subfolder").mkdir(parents=True)
    return cases


# figure ids in hostile_corpus whose unusual images must be accepted (converted to RGB)
CONVERTED_IMAGES = ("PMC7703/f10", "PMC7703/f11", "PMC7703/f12", "PMC7703/f13")
