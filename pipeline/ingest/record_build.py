"""Turn JSON records (M3LLM or LLaVA-Med) into Article and Figure rows. The two formats differ only
in field aliases, ids and where sub-figure boxes come from, which a RecordSpec describes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from pipeline.ingest.config import IngestConfig
from pipeline.ingest.errors import IngestError
from pipeline.ingest.figures import ImageFields, ParsedFile, check_caption, image_or_reject, reject, slug
from pipeline.ingest.paths import resolve_href
from pipeline.ingest.records import as_texts, pick
from pipeline.ingest.subcaptions import split_subcaptions
from schemas.figure import Article, Figure, Panel, SourceFormat
from schemas.reject import RejectReason

SuppliedPanels = Callable[[Path, dict, ParsedFile, str, str], list[Panel] | None]
LocateImage = Callable[[str], Path | None]  # a format's own image folders, tried after the usual ones


@dataclass(frozen=True)
class RecordSpec:
    source_format: SourceFormat
    image: tuple[str, ...]
    caption: tuple[str, ...]
    mentions: tuple[str, ...]
    article_id: tuple[str, ...]
    figure_key: tuple[str, ...]
    label: tuple[str, ...]
    title: tuple[str, ...] = ("title", "article_title")
    license: tuple[str, ...] = ("license",)
    doi: tuple[str, ...] = ("doi",)
    pmcid: tuple[str, ...] = ("pmcid", "pmc_id")
    image_dirs: tuple[str, ...] = ("", "images", "figures")


def _article_id(record: dict, spec: RecordSpec, image: str | None) -> str | None:
    key = next((k for k in spec.article_id if record.get(k) not in (None, "")), None)
    if key is not None:
        value = str(record[key]).strip()
        return f"PMID{value}" if key == "pmid" and value.isdigit() else value
    if image:  # PMC figure files are usually named <article>_<figure>.<ext>
        stem = PurePosixPath(str(image)).stem
        return stem.split("_")[0] if "_" in stem else stem
    return None


def _resolve_image(href: str, json_dir: Path, input_root: Path, spec: RecordSpec) -> Path | None:
    for sub in spec.image_dirs:
        base = json_dir / sub if sub else json_dir
        found = resolve_href(href, base, input_root)
        if found is not None:
            return found
    return None


def build_from_records(records: list[tuple[str, dict]], path: Path, rel: str, input_root: Path, sha256: str,
                       config: IngestConfig, spec: RecordSpec, out: ParsedFile,
                       supplied_panels: SuppliedPanels | None = None, locate: LocateImage | None = None) -> ParsedFile:
    articles: dict[str, dict] = {}
    seen: set[str] = set()
    for item, rec in records:
        image_href = pick(rec, spec.image)
        image_href = str(image_href) if image_href is not None else None
        article_id = _article_id(rec, spec, image_href)
        if article_id is None:
            out.rejects.append(reject(item, RejectReason.INPUT_INVALID, f"{item}: record has no article id and no image name"))
            continue
        key = pick(rec, spec.figure_key)
        key = slug(str(key)) if key is not None else None
        key = key or (slug(PurePosixPath(image_href).stem) if image_href else None) or f"fig{len(seen) + 1}"
        figure_id = f"{article_id}/{key}"
        if figure_id in seen:
            out.rejects.append(reject(item, RejectReason.DUPLICATE_ID, f"{figure_id}: duplicate figure id in {rel}; later record dropped",
                                      article_id=article_id, figure_id=figure_id))
            continue
        caption = " ".join(str(pick(rec, spec.caption) or "").split())
        problem = check_caption(caption, item, figure_id, article_id, config)
        if problem:
            out.rejects.append(problem)
            continue
        seen.add(figure_id)
        meta = articles.setdefault(article_id, {"figure_ids": [], "title": None, "license": None, "doi": None, "pmcid": None})
        for field, aliases in (("title", spec.title), ("license", spec.license), ("doi", spec.doi), ("pmcid", spec.pmcid)):
            if meta[field] is None and pick(rec, aliases) is not None:
                meta[field] = str(pick(rec, aliases))
        image = ImageFields()
        if image_href:
            try:
                image_path = _resolve_image(image_href, path.parent, input_root, spec)
                if image_path is None and locate is not None:
                    image_path = locate(image_href)
            except IngestError as exc:
                image_path = None
                out.rejects.append(reject(item, exc.reason, f"{figure_id}: {exc.detail}", article_id=article_id, figure_id=figure_id))
            else:
                if image_path is None:
                    out.rejects.append(reject(item, RejectReason.IMAGE_MISSING,
                                              f"{figure_id}: image {image_href!r} not found next to {rel}; figure kept caption-only",
                                              article_id=article_id, figure_id=figure_id))
            if image_path is not None:
                supplied = supplied_panels(image_path, rec, out, article_id, figure_id) if supplied_panels else None
                image, problem = image_or_reject(image_path, config, figure_id=figure_id, article_id=article_id, supplied=supplied)
                if problem:
                    out.rejects.append(problem)
        label = pick(rec, spec.label)
        meta["figure_ids"].append(figure_id)
        out.figures.append(Figure(
            figure_id=figure_id, article_id=article_id, label=str(label) if label is not None else None,
            caption=caption, sub_captions=split_subcaptions(caption), mentions=as_texts(pick(rec, spec.mentions)),
            image_path=image.image_path, image_sha256=image.image_sha256, width=image.width, height=image.height,
            panels=image.panels, has_image=image.has_image, license=meta["license"],
            source_format=spec.source_format, source_path=rel, article_title=meta["title"],
        ))
    by_id = {f.figure_id: f for f in out.figures}
    for article_id, meta in articles.items():
        out.articles.append(Article(
            article_id=article_id, title=meta["title"], license=meta["license"], doi=meta["doi"],
            pmcid=meta["pmcid"], source_format=spec.source_format, source_path=rel, source_sha256=sha256,
            figure_ids=meta["figure_ids"], has_images=any(by_id[f].has_image for f in meta["figure_ids"]),
        ))
    return out
