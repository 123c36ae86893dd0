"""Parse untrusted XML without entity expansion, DTD loading or network access.

Entities are the attack surface (XXE file reads, billion-laughs expansion), so any document whose
internal DTD subset declares an entity is refused outright. An external DTD reference (every PMC
file has one) is allowed but never fetched or read.
"""

from __future__ import annotations

import re

from lxml import etree

from pipeline.ingest.errors import IngestError
from schemas.reject import RejectReason

_DECL_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_ENTITY_DECL = re.compile(rb"<!ENTITY", re.IGNORECASE)


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def _check_encoding(data: bytes, name: str) -> None:
    """Refuse bytes that are not valid in the declared encoding (default UTF-8)."""
    match = _DECL_ENCODING.match(data[:200])
    encoding = match.group(1).decode("ascii").lower() if match else "utf-8"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding = "utf-16"
    try:
        data.decode(encoding)
    except LookupError as exc:
        raise IngestError(RejectReason.ENCODING, f"{name}: unknown declared encoding {encoding!r}") from exc
    except UnicodeDecodeError as exc:
        raise IngestError(
            RejectReason.ENCODING,
            f"{name}: bytes at offset {exc.start} are not valid {encoding} ({exc.reason})",
        ) from exc


def _prolog(data: bytes) -> bytes:
    """The bytes before the root element: where a DOCTYPE and its internal subset live."""
    end = data.find(b"]>")
    head = data[: max(end + 2, 0)] if end != -1 else data[:4096]
    return head


def parse_xml(data: bytes, name: str, *, expected_root: str = "article") -> etree._ElementTree:
    """Parse `data` safely and return the tree; raise IngestError with the reject reason otherwise."""
    if not data.strip():
        raise IngestError(RejectReason.XML_MALFORMED, f"{name}: file is empty")
    _check_encoding(data, name)
    if b"<!DOCTYPE" in _prolog(data) and _ENTITY_DECL.search(_prolog(data)):
        raise IngestError(RejectReason.XML_FORBIDDEN, f"{name}: DOCTYPE declares entities (refused: XXE/expansion risk)")
    try:
        tree = etree.ElementTree(etree.fromstring(data, _parser()))
    except etree.XMLSyntaxError as exc:
        msg = str(exc)
        reason = RejectReason.ENCODING if "encoding" in msg.lower() or "utf-8" in msg.lower() else RejectReason.XML_MALFORMED
        raise IngestError(reason, f"{name}: {msg}") from exc
    dtd = tree.docinfo.internalDTD
    if dtd is not None and any(True for _ in dtd.iterentities()):
        raise IngestError(RejectReason.XML_FORBIDDEN, f"{name}: internal DTD declares entities (refused)")
    if any(isinstance(node, etree._Entity) for node in tree.iter(etree.Entity)):
        raise IngestError(
            RejectReason.XML_FORBIDDEN,
            f"{name}: document uses named entities that are defined only in an external DTD (not loaded)",
        )
    root = tree.getroot()
    if etree.QName(root).localname == "pmc-articleset":
        inner = next((c for c in root if isinstance(c.tag, str) and etree.QName(c).localname == expected_root), None)
        if inner is not None:
            return etree.ElementTree(inner)
    if etree.QName(root).localname != expected_root:
        raise IngestError(
            RejectReason.XML_WRONG_ROOT,
            f"{name}: root element is <{etree.QName(root).localname}>, expected <{expected_root}>",
        )
    return tree
