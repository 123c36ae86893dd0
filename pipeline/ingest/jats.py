"""JATS / PMC .nxml articles: metadata, figures with captions and sub-captions, citing paragraphs,
and the best local rendition of each figure image (thumbnails and web previews never become
figures of their own: every <graphic> of one <fig> is a rendition and the largest one wins)."""

from __future__ import annotations

import re
from pathlib import Path

from lxml import etree

from pipeline.ingest.config import IngestConfig
from pipeline.ingest.errors import IngestError
from pipeline.ingest.figures import ImageFields, ParsedFile, check_caption, image_or_reject, reject, slug
from pipeline.ingest.images import read_size
from pipeline.ingest.paths import resolve_href
from pipeline.ingest.xml_safety import parse_xml
from pipeline.ingest.subcaptions import split_subcaptions
from schemas.figure import Article, Figure, SourceFormat
from schemas.reject import RejectReason

XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
SKIP_IN_TEXT = {"fig", "fig-group", "table-wrap", "supplementary-material", "ref-list"}
BLOCK = {"title", "p", "label", "sec", "list-item", "caption", "abstract"}
THUMB_HINT = re.compile(r"(thumb|icon|small|preview|web)", re.IGNORECASE)
_MARK = "\u0001"  # temporary marker for "a bold/italic panel letter starts here"
_PANEL_LETTERS = re.compile(r"^\(?[A-Za-z](?:\s*[-–,]\s*[A-Za-z])*\)?[.,:]?$")
_RANGE = re.compile(r"(\d+)\s*[-–—]\s*(\d+)")


def _collapse(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _text(el: etree._Element, mark_letters: bool = False) -> str:
    """Text of `el` without nested figures/tables; optionally marks bold/italic panel letters."""
    parts: list[str] = []

    def walk(node: etree._Element) -> None:
        if not isinstance(node.tag, str):
            return
        if node.tag in SKIP_IN_TEXT and node is not el:
            parts.append(" ")
            return
        if mark_letters and node.tag in ("bold", "italic", "b", "i") and _PANEL_LETTERS.match("".join(node.itertext()).strip()):
            parts.append(_MARK)
        if node.text:
            parts.append(node.text)
        for child in node:
            walk(child)
            if isinstance(child.tag, str) and child.tag in BLOCK:
                parts.append(" ")
            if child.tail:
                parts.append(child.tail)

    walk(el)
    return _collapse("".join(parts))


def _strip_marks(text: str) -> tuple[str, list[int]]:
    """Remove the panel-letter marks, returning the clean text and where each mark was."""
    offsets, out = [], []
    for ch in text:
        if ch == _MARK:
            offsets.append(len(out))
        else:
            out.append(ch)
    joined = "".join(out)
    lead = len(joined) - len(joined.lstrip())
    return joined.strip(), [max(0, o - lead) for o in offsets]


def _article_ids(root: etree._Element) -> tuple[str | None, str | None]:
    doi = pmcid = None
    for el in root.iterfind(".//article-meta/article-id"):
        kind, value = el.get("pub-id-type"), (el.text or "").strip()
        if not value:
            continue
        if kind == "doi" and doi is None:
            doi = value
        elif kind in ("pmc", "pmcid") and pmcid is None:
            pmcid = value if value.upper().startswith("PMC") else f"PMC{value}"
    return doi, pmcid


def _license(root: etree._Element) -> str | None:
    lic = root.find(".//permissions/license")
    if lic is None:
        lic = root.find(".//license")
    if lic is None:
        return None
    href = lic.get(XLINK_HREF)
    if href:
        return href.strip()
    text = _text(lic)
    return text[:500] or lic.get("license-type")


def _fig_number(label: str | None, index: int) -> int:
    m = re.search(r"(\d+)", label or "")
    return int(m.group(1)) if m else index + 1


def _cited_figs(p: etree._Element, known: dict[str, int], by_number: dict[int, str]) -> list[str]:
    """Figure xml ids a paragraph cites: multi-rid xrefs, "Figs 2-4" ranges, and xref-dash-xref ranges."""
    cited: list[str] = []
    xrefs = [x for x in p.iter("xref") if x.get("ref-type") == "fig" and not _inside(x, SKIP_IN_TEXT, stop=p)]
    for i, x in enumerate(xrefs):
        rids = [r for r in (x.get("rid") or "").split() if r in known]
        cited += rids
        m = _RANGE.search("".join(x.itertext()))
        if m and rids:
            lo, hi = int(m.group(1)), int(m.group(2))
            cited += [by_number[n] for n in range(lo, hi + 1) if n in by_number and hi - lo < 50]
        tail = (x.tail or "").strip()
        if rids and tail in ("-", "–", "—", "to", "through") and i + 1 < len(xrefs) and x.getnext() is xrefs[i + 1]:
            nxt = [r for r in (xrefs[i + 1].get("rid") or "").split() if r in known]
            if nxt:
                lo, hi = known[rids[0]], known[nxt[0]]
                cited += [by_number[n] for n in range(lo, hi + 1) if n in by_number and 0 <= hi - lo < 50]
    return list(dict.fromkeys(cited))


def _inside(el: etree._Element, tags: set[str], stop: etree._Element | None = None) -> bool:
    parent = el.getparent()
    while parent is not None and parent is not stop:
        if parent.tag in tags:
            return True
        parent = parent.getparent()
    return False


def _best_rendition(fig: etree._Element, base: Path, root_dir: Path, config: IngestConfig,
                    figure_id: str, article_id: str, rejects: list) -> Path | None:
    """Largest resolvable rendition among the figure's <graphic>s; thumbnails lose ties."""
    found: list[tuple[int, int, Path]] = []
    for g in fig.iter("graphic"):
        href = g.get(XLINK_HREF) or g.get("href") or ""
        try:
            path = resolve_href(href, base, root_dir)
        except IngestError as exc:
            rejects.append(reject(href, exc.reason, f"{figure_id}: {exc.detail}", article_id=article_id, figure_id=figure_id))
            continue
        if path is None:
            continue
        size = read_size(path, config.max_pixels)
        area = size[0] * size[1] if size else 0
        thumbish = bool(THUMB_HINT.search(g.get("specific-use") or "") or THUMB_HINT.search(path.stem))
        found.append((area, 0 if thumbish else 1, path))
    if not found:
        return None
    return max(found, key=lambda t: (t[0], t[1]))[2]


def parse_jats(path: Path, rel: str, input_root: Path, sha256: str, config: IngestConfig) -> ParsedFile:
    """Parse one JATS file; raises IngestError when the whole file is unusable."""
    return parse_jats_bytes(path.read_bytes(), rel, path.parent, input_root, sha256, config)


def parse_jats_bytes(data: bytes, rel: str, base: Path, input_root: Path, sha256: str, config: IngestConfig,
                     source: str | None = None) -> ParsedFile:
    """Parse JATS held in memory; image hrefs resolve against `base` (inside `input_root`). `rel` names
    the document in rejects; `source` (default `rel`) is the rows' source_path, e.g. the archive."""
    source = source or rel
    root = parse_xml(data, rel).getroot()
    doi, pmcid = _article_ids(root)
    article_id = pmcid or doi or re.sub(r"\.(n?xml)$", "", rel.rpartition(":")[2])
    title_el = root.find(".//article-meta/title-group/article-title")
    abstract_el = next((a for a in root.iterfind(".//article-meta/abstract") if a.get("abstract-type") not in ("graphical", "teaser")), None)
    title = _text(title_el) if title_el is not None else None
    license_ = _license(root)
    out = ParsedFile()
    figs = [f for f in root.iter("fig")]
    known: dict[str, int] = {}
    by_number: dict[int, str] = {}
    for i, fig in enumerate(figs):
        fid = fig.get("id")
        label_el = fig.find("label")
        number = _fig_number(_text(label_el) if label_el is not None else None, i)
        if fid and fid not in known:
            known[fid] = number
            by_number.setdefault(number, fid)
    mentions: dict[str, list[str]] = {fid: [] for fid in known}
    body = root.find("body")
    if body is not None:
        for p in body.iter("p"):
            if _inside(p, {"fig", "table-wrap", "caption"}):
                continue
            cited = _cited_figs(p, known, by_number)
            if cited:
                text = _text(p)
                for fid in cited:
                    if text and text not in mentions[fid]:
                        mentions[fid].append(text)
    pending: list[tuple[dict, Path | None]] = []
    seen: set[str] = set()
    for i, fig in enumerate(figs):
        label_el = fig.find("label")
        label = _text(label_el) if label_el is not None else None
        key = fig.get("id") or slug(label or "") or f"fig{i + 1}"
        figure_id = f"{article_id}/{key}"
        if figure_id in seen:
            out.rejects.append(reject(rel, RejectReason.DUPLICATE_ID, f"{figure_id}: figure id appears more than once in {rel}; later copy dropped",
                                      article_id=article_id, figure_id=figure_id))
            continue
        seen.add(figure_id)
        caption_el = fig.find("caption")
        raw = _text(caption_el, mark_letters=True) if caption_el is not None else ""
        caption, strong = _strip_marks(raw)
        problem = check_caption(caption, rel, figure_id, article_id, config)
        if problem:
            out.rejects.append(problem)
            continue
        best = _best_rendition(fig, base, input_root, config, figure_id, article_id, out.rejects)
        fields = dict(figure_id=figure_id, article_id=article_id, label=label, caption=caption,
                      sub_captions=split_subcaptions(caption, strong), mentions=mentions.get(fig.get("id") or "", []),
                      license=license_, source_format=SourceFormat.JATS, source_path=source, article_title=title)
        pending.append((fields, best))
    any_resolved = any(best is not None for _, best in pending)
    for fields, best in pending:
        image = ImageFields()
        if best is not None:
            image, problem = image_or_reject(best, config, figure_id=fields["figure_id"], article_id=article_id)
            if problem:
                out.rejects.append(problem)
        elif any_resolved:
            # Some figures of this article shipped images and this one did not: a real loss.
            out.rejects.append(reject(rel, RejectReason.IMAGE_MISSING,
                                      f"{fields['figure_id']}: no local file for its graphic; figure kept caption-only",
                                      article_id=article_id, figure_id=fields["figure_id"]))
        out.figures.append(Figure(**fields, image_path=image.image_path, image_sha256=image.image_sha256,
                                  width=image.width, height=image.height, panels=image.panels, has_image=image.has_image))
    out.articles.append(Article(
        article_id=article_id, title=title, abstract=_text(abstract_el) if abstract_el is not None else None,
        license=license_, doi=doi, pmcid=pmcid, source_format=SourceFormat.JATS, source_path=source,
        source_sha256=sha256, figure_ids=[f.figure_id for f in out.figures],
        has_images=any(f.has_image for f in out.figures),
    ))
    return out
