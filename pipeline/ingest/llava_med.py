"""LLaVA-Med style caption records (JSON list or JSONL).

Accepted keys (first present wins):
  image        image, image_path, img, file_name, filename
  caption      fig_caption, caption, figure_caption
  mentions     in_text_mention, in_text_mentions, mentions, inline_context
               (a string, a list of strings, or a list of {"tokens": ...} / {"text": ...})
  article id   pmid (becomes "PMID<n>"), pmcid, article_id; else the image name before "_"
  figure key   fig_label, figure_label, label, pair_id, id; else the image stem
  label        fig_label, figure_label, label
  optional     title / article_title, license, doi
Images are looked up next to the JSON file, then in images/ and figures/ beside it.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.ingest.config import IngestConfig
from pipeline.ingest.figures import ParsedFile
from pipeline.ingest.record_build import RecordSpec, build_from_records
from schemas.figure import SourceFormat

SPEC = RecordSpec(
    source_format=SourceFormat.LLAVA_MED,
    image=("image", "image_path", "img", "file_name", "filename"),
    caption=("fig_caption", "caption", "figure_caption"),
    mentions=("in_text_mention", "in_text_mentions", "mentions", "inline_context"),
    article_id=("pmid", "pmcid", "article_id"),
    figure_key=("fig_label", "figure_label", "label", "pair_id", "id"),
    label=("fig_label", "figure_label", "label"),
)


def parse_llava_med(records: list[tuple[str, dict]], path: Path, rel: str, input_root: Path, sha256: str,
                    config: IngestConfig, out: ParsedFile) -> ParsedFile:
    return build_from_records(records, path, rel, input_root, sha256, config, SPEC, out)
