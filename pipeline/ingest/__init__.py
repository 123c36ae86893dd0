"""Ingest: JATS/PMC XML (plain or in PMC OA .tar.gz archives), M3LLM JSON and LLaVA-Med JSON ->
Article, Figure and Reject shards.

Library entry point: `run_ingest(input_dir, out_dir, config) -> IngestResult` (no Prefect here).
"""

from __future__ import annotations

import functools
import hashlib
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, Field

from pipeline.ingest.archives import apply_file_list, archive_sha256, is_archive, parse_archive
from pipeline.ingest.config import IngestConfig
from pipeline.ingest.discover import InputFile, discover
from pipeline.ingest.errors import IngestError, InputFolderError
from pipeline.ingest.figures import ParsedFile, reject
from pipeline.ingest.filelists import file_lists
from pipeline.ingest.jats import parse_jats
from pipeline.ingest.llava_med import parse_llava_med
from pipeline.ingest.m3llm import parse_m3llm
from pipeline.ingest.ordered import ordered_map
from pipeline.ingest.manifest import FileEntry, load_manifest, save_manifest
from pipeline.ingest.records import detect_format, load_records
from pipeline.ingest.shards import Packer, Unit, drop_sources, ramp_sizes, write_shard
from pipeline.engine.shutdown import ShuttingDown, stop_requested
from pipeline.io.layout import ensure_layout
from pipeline.io.parquet import list_shards
from schemas.reject import RejectReason

__all__ = ["IngestConfig", "IngestResult", "InputFolderError", "run_ingest"]

Progress = Callable[[int, int, str], None]  # (files done, files to do, current file)


PROCESS_MIN_FILES = 32  # fewer files parse on threads: starting worker processes costs seconds


class IngestResult(BaseModel):
    """What one run did (counts cover the files ingested in this run, not skipped ones)."""

    files_seen: int = 0
    files_skipped: int = Field(0, description="unchanged since the last run")
    files_new: int = 0
    files_changed: int = 0
    files_removed: int = 0
    articles: int = 0
    figures: int = 0
    figures_with_image: int = 0
    panels: int = 0
    rejects: int = 0
    rejects_by_reason: dict[str, int] = Field(default_factory=dict)
    new_shards: list[str] = Field(default_factory=list, description="figures shards created by this run")
    rewritten_shards: list[str] = Field(default_factory=list, description="existing figures shards rewritten")
    worker_cpu_seconds: float = Field(0.0, description="CPU time spent parsing on worker threads or processes (0 when parsed inline)")


def _parse_file(f: InputFile, data: bytes, sha: str, input_root: Path, config: IngestConfig,
                out_dir: Path | None = None) -> ParsedFile:
    suffix = f.path.suffix.lower()
    if is_archive(f.rel):
        return parse_archive(f.path, f.rel, out_dir or input_root, sha, config, file_lists(input_root))
    if suffix in (".xml", ".nxml"):
        parsed = parse_jats(f.path, f.rel, input_root, sha, config)
        apply_file_list(parsed, file_lists(input_root), f.rel, f.path.parent.name + ".tar.gz")
        return parsed
    records, rejects = load_records(f.path, f.rel)
    out = ParsedFile(rejects=rejects)
    fmt = config.format if config.format != "auto" else detect_format(r for _, r in records)
    if fmt is None:
        if not records:
            return out
        raise IngestError(RejectReason.INPUT_INVALID,
                          f"{f.rel}: records match neither the M3LLM nor the LLaVA-Med keys (see README); use --format")
    parser = parse_llava_med if fmt == "llava-med" else parse_m3llm
    return parser(records, f.path, f.rel, input_root, sha, config, out)


def _parse_or_reject(f: InputFile, sha: str, err: IngestError | None, input_dir: Path, config: IngestConfig,
                     out_dir: Path) -> tuple[str, ParsedFile]:
    """(the sha of the bytes parsed, what they hold); a file that cannot be read or parsed is one reject."""
    data = None
    if err is None:
        try:
            data = _read(f, config)
            sha = _sha256(f, config, data)  # the bytes parsed are the bytes recorded
        except IngestError as exc:
            err = exc
    if err is not None:
        return sha, ParsedFile(rejects=[reject(f.rel, err.reason, err.detail)])
    try:
        return sha, _parse_file(f, data, sha, input_dir, config, out_dir)
    except IngestError as exc:
        return sha, ParsedFile(rejects=[reject(f.rel, exc.reason, exc.detail)])
    except Exception as exc:  # noqa: BLE001 - an unforeseen failure on one file must not stop the run
        return sha, ParsedFile(rejects=[reject(f.rel, RejectReason.INPUT_INVALID,
                                               f"{f.rel}: unexpected {type(exc).__name__}: {exc}")])


def _parse_item(item: tuple[InputFile, str, tuple[str, str] | None], *, input_dir: Path, config: IngestConfig,
                out_dir: Path) -> tuple[str, ParsedFile, float]:
    """_parse_or_reject for ordered_map (picklable for worker processes), with its CPU seconds."""
    f, sha, err = item
    cpu0 = time.thread_time()
    sha, parsed = _parse_or_reject(f, sha, None if err is None else IngestError(*err), input_dir, config, out_dir)
    return sha, parsed, time.thread_time() - cpu0


def _read(f: InputFile, config: IngestConfig) -> bytes:
    if f.escapes:
        raise IngestError(RejectReason.PATH_OUTSIDE_INPUT, f"{f.rel}: symlink to a file outside the input folder")
    try:
        size = f.path.stat().st_size
        if is_archive(f.rel):
            return b""  # archives are streamed by parse_archive and hashed in blocks, never loaded whole
        if size > config.max_file_bytes:
            raise IngestError(RejectReason.INPUT_UNREADABLE, f"{f.rel}: {size} bytes exceeds the limit of {config.max_file_bytes}")
        return f.path.read_bytes()
    except OSError as exc:
        raise IngestError(RejectReason.INPUT_UNREADABLE, f"{f.rel}: cannot read ({exc.strerror or exc})") from exc


def _sha256(f: InputFile, config: IngestConfig, data: bytes | None = None) -> str:
    """Content hash of one input file (archives are hashed in blocks, never loaded whole)."""
    if is_archive(f.rel):
        return archive_sha256(f.path)
    return hashlib.sha256(_read(f, config) if data is None else data).hexdigest()


def _units(f: InputFile, parsed: ParsedFile) -> list[Unit]:
    """One unit per article (with its figures and rejects); file-level rejects ride on the first."""
    units = {a.article_id: Unit(source=f.rel, articles=[a]) for a in parsed.articles}
    for fig in parsed.figures:
        units[fig.article_id].figures.append(fig)
    ordered = list(units.values()) or [Unit(source=f.rel)]
    for r in parsed.rejects:
        (units.get(r.article_id) or ordered[0]).rejects.append(r)
    return ordered


def _drop_duplicates(parsed: ParsedFile, taken: set[str], rel: str) -> None:
    """Figure ids must be unique across the whole output; a later file's duplicate is rejected."""
    keep = []
    for fig in parsed.figures:
        if fig.figure_id in taken:
            parsed.rejects.append(reject(rel, RejectReason.DUPLICATE_ID,
                                         f"{rel}: figure {fig.figure_id} was already produced by another input file; dropped",
                                         article_id=fig.article_id, figure_id=fig.figure_id))
            continue
        taken.add(fig.figure_id)
        keep.append(fig)
    dropped = {f.figure_id for f in parsed.figures} - {f.figure_id for f in keep}
    parsed.figures = keep
    for art in parsed.articles:
        art.figure_ids = [i for i in art.figure_ids if i not in dropped]


def run_ingest(input_dir: Path, out_dir: Path, config: IngestConfig | None = None,
               progress: Progress | None = None, on_shard: Callable[[str], None] | None = None) -> IngestResult:
    """Ingest every new or changed document under `input_dir` into shards under `out_dir`.

    Raises InputFolderError when the input folder is absent or holds no documents, and
    LayoutMismatch when `out_dir` belongs to another schema version. Everything else that goes
    wrong with one file, figure or image becomes a Reject row and the run carries on.
    `on_shard(name)` is told of every figures shard that is final for this run: the existing ones
    once stale rows are dropped, then each new one as it is written (a build starts work on them).
    """
    config = config or IngestConfig()
    input_dir, out_dir = Path(input_dir), Path(out_dir)
    files = discover(input_dir, config.format, exclude=out_dir)
    ensure_layout(out_dir)
    manifest = load_manifest(out_dir)
    result = IngestResult(files_seen=len(files))
    present = {f.rel for f in files}
    removed = [rel for rel in manifest.files if rel not in present]

    # Only hashes are kept from this pass: the bytes are read again when the file is parsed, so
    # memory holds one file at a time, not the corpus.
    todo: list[tuple[InputFile, None, str, IngestError | None]] = []
    for f in files:
        try:
            sha, err = _sha256(f, config), None
        except IngestError as exc:
            err, sha = exc, f"unreadable:{exc.reason}"
        old = manifest.files.get(f.rel)
        if old is not None and old.sha256 == sha:
            result.files_skipped += 1
            continue
        todo.append((f, None, sha, err))
    if config.limit is not None:
        todo = todo[: config.limit]
    changed = [f.rel for f, *_ in todo if f.rel in manifest.files]
    result.files_changed, result.files_new, result.files_removed = len(changed), len(todo) - len(changed), len(removed)

    # Drop the old rows of changed and removed files by rewriting only the shards that held them.
    stale = set(changed) | set(removed)
    stale_articles = {a for rel in stale for a in manifest.files[rel].article_ids}
    for index in sorted({i for rel in stale for i in manifest.files[rel].shards}):
        result.rewritten_shards.append(str(drop_sources(out_dir, index, stale, stale_articles)))
    for rel in stale:
        del manifest.files[rel]
    if stale:
        save_manifest(out_dir, manifest)

    if on_shard:
        for path in list_shards(out_dir / "figures"):
            on_shard(path.name)
    taken = {fid for entry in manifest.files.values() for fid in entry.figure_ids}
    entries: dict[str, FileEntry] = {}
    unwritten: Counter[str] = Counter()  # units of a file not yet in a written shard
    reasons: Counter[str] = Counter()
    packer = Packer(config.shard_size, ramp_sizes(config.shard_size) if config.ramp_shards else None)

    def write(shard_units: list[Unit]) -> None:
        """Write one shard now; a file enters the manifest once all its units are on disk, so a
        crash mid-file leaves it to be ingested again rather than half recorded."""
        index = manifest.next_shard
        path = write_shard(out_dir, index, shard_units)
        result.new_shards.append(str(path))
        manifest.next_shard = index + 1
        for unit in shard_units:
            entry = entries[unit.source]
            if index not in entry.shards:
                entry.shards.append(index)
            unwritten[unit.source] -= 1
            if unwritten[unit.source] == 0:
                manifest.files[unit.source] = entry
        save_manifest(out_dir, manifest)  # after every shard, so a crash loses at most one shard of work
        if on_shard:
            on_shard(Path(path).name)

    processes = config.workers > 1 and config.worker_processes and len(todo) >= PROCESS_MIN_FILES
    parse = functools.partial(_parse_item, input_dir=input_dir, config=config, out_dir=out_dir)
    items = [(f, sha, None if err is None else (err.reason, err.detail)) for f, _, sha, err in todo]
    for n, ((f, _, _, _), (sha, parsed, cpu)) in enumerate(zip(todo, ordered_map(parse, items, config.workers, processes),
                                                              strict=True)):
        if config.workers > 1:  # off this thread: the caller's own CPU time does not include it
            result.worker_cpu_seconds += cpu
        if progress:
            progress(n, len(todo), f.rel)
        if stop_requested():  # Ctrl-C or SIGTERM: what is written is kept, the rest waits for a rerun
            raise ShuttingDown("the process is stopping; ingest stops between files")
        _drop_duplicates(parsed, taken, f.rel)
        entries[f.rel] = FileEntry(sha256=sha, article_ids=[a.article_id for a in parsed.articles],
                                   figure_ids=[g.figure_id for g in parsed.figures])
        result.articles += len(parsed.articles)
        result.figures += len(parsed.figures)
        result.figures_with_image += sum(g.has_image for g in parsed.figures)
        result.panels += sum(len(g.panels) for g in parsed.figures)
        reasons.update(str(r.reason) for r in parsed.rejects)
        units = _units(f, parsed)
        unwritten[f.rel] += len(units)
        for unit in units:
            if (full := packer.add(unit)) is not None:
                write(full)
    if (rest := packer.flush()) is not None:
        write(rest)
    if progress:
        progress(len(todo), len(todo), "")
    result.rejects = sum(reasons.values())
    result.rejects_by_reason = dict(sorted(reasons.items()))
    return result
