"""Find the input documents under the input folder, in a deterministic order (sorted relative path).
PMC OA archives (.tar.gz, .tgz, .tar) count as JATS documents."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pipeline.ingest.errors import InputFolderError
from pipeline.ingest.paths import is_inside

XML_SUFFIXES = {".xml", ".nxml"}
JSON_SUFFIXES = {".json", ".jsonl"}
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")


@dataclass(frozen=True)
class InputFile:
    path: Path
    rel: str  # posix path relative to the input folder: the manifest key and Figure.source_path
    escapes: bool  # a symlink whose target lies outside the input folder


def suffixes_for(fmt: str) -> set[str]:
    if fmt == "jats":
        return XML_SUFFIXES
    if fmt in ("m3llm", "llava-med"):
        return JSON_SUFFIXES
    return XML_SUFFIXES | JSON_SUFFIXES


def discover(input_dir: Path, fmt: str = "auto", exclude: Path | None = None) -> list[InputFile]:
    """All candidate documents; raises InputFolderError when the folder is unusable or has none."""
    input_dir = Path(input_dir)
    if not input_dir.exists():
        raise InputFolderError(f"input folder {input_dir} does not exist")
    if not input_dir.is_dir():
        raise InputFolderError(f"input path {input_dir} is not a folder")
    root = input_dir.resolve()
    excluded = exclude.resolve() if exclude is not None else None
    wanted = suffixes_for(fmt)
    found: list[InputFile] = []
    for dirpath, dirnames, filenames in os.walk(input_dir, followlinks=False):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in ("_state", "__pycache__")
                             and (excluded is None or (here / d).resolve() != excluded))
        for name in sorted(filenames):
            path = here / name
            archive = name.lower().endswith(ARCHIVE_SUFFIXES) and wanted & XML_SUFFIXES
            if name.startswith(".") or (path.suffix.lower() not in wanted and not archive):
                continue
            rel = path.relative_to(input_dir).as_posix()
            found.append(InputFile(path=path, rel=rel, escapes=not is_inside(path, root)))
    found.sort(key=lambda f: f.rel)
    if not found:
        kinds = ", ".join(sorted(wanted) + (list(ARCHIVE_SUFFIXES) if wanted & XML_SUFFIXES else []))
        raise InputFolderError(f"no input files ({kinds}) found under {input_dir}")
    return found
