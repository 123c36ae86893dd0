"""The output folder marker: `<out>/_pmc_instruct.json` records the schema version the folder was
written with, so a newer (or older) pmc-instruct never mixes its rows into an incompatible folder."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.io.atomic import atomic_write_text
from schemas.arrow import SCHEMA_VERSION

MARKER_NAME = "_pmc_instruct.json"


class LayoutMismatch(RuntimeError):
    """The output folder was written by an incompatible schema version (or is not ours)."""


def marker_path(out: Path) -> Path:
    return Path(out) / MARKER_NAME


def read_marker(out: Path) -> dict | None:
    path = marker_path(out)
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LayoutMismatch(f"{path} exists but is not a readable pmc-instruct layout marker: {exc}") from exc
    if not isinstance(data, dict):
        raise LayoutMismatch(f"{path} is not a pmc-instruct layout marker (expected a JSON object)")
    return data


def check_layout(out: Path) -> None:
    """Raise LayoutMismatch if `out` exists and is not a folder of this schema version; create nothing
    (lets a command refuse a foreign folder before any expensive start-up)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise LayoutMismatch(f"output path {out} exists and is not a folder")
    marker = read_marker(out)
    if marker is not None and str(marker.get("schema_version")) != SCHEMA_VERSION:
        raise LayoutMismatch(
            f"output folder {out} was written with schema version {marker.get('schema_version')}, but this "
            f"pmc-instruct writes schema version {SCHEMA_VERSION}; use a new --out folder or delete the old one"
        )


def apart_problem(input_dir: Path, out_dir: Path) -> str | None:
    """Why `out_dir` may not hold a build of `input_dir` (one is the other or inside it), or None.
    A build inside its input would ingest its own output; an input inside the output gets swept."""
    src, dst = Path(input_dir).resolve(), Path(out_dir).resolve()
    if dst == src:
        return f"output folder {out_dir} is the input folder"
    if src in dst.parents:
        return f"output folder {out_dir} is inside the input folder {input_dir}"
    if dst in src.parents:
        return f"output folder {out_dir} contains the input folder {input_dir}"
    return None


def check_apart(input_dir: Path, out_dir: Path) -> None:
    """Raise LayoutMismatch when input and output folders overlap (see apart_problem)."""
    problem = apart_problem(input_dir, out_dir)
    if problem:
        raise LayoutMismatch(f"{problem}; write the build to a folder outside the input")


def ensure_layout(out: Path, created_by: str = "pmc-instruct") -> Path:
    """Create `out` with a layout marker, or check the existing marker's schema version.

    Every stage calls this before writing. A folder written with another schema version is refused
    (raise LayoutMismatch) instead of being silently mixed with rows of a different shape.
    """
    out = Path(out)
    check_layout(out)
    if read_marker(out) is None:
        out.mkdir(parents=True, exist_ok=True)
        payload = {"schema_version": SCHEMA_VERSION, "created_by": created_by}
        atomic_write_text(marker_path(out), json.dumps(payload, indent=2) + "\n")
    return out
