"""Files shipped inside installed Python distributions (models packaged as wheels).

A file is found through the distribution's own file list (its RECORD), so the package is never
imported: some of them need optional native libraries just to import.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable
from pathlib import Path, PurePosixPath


class PackagedFileMissing(FileNotFoundError):
    """The distribution is not installed, or it ships no matching file."""


def package_file(distribution: str, match: str | Callable[[str], bool], what: str | None = None) -> Path:
    """The first file of `distribution` named `match` (a file name) or for which `match(relative path)`
    is true. `what` describes the file in the error; it defaults to `match` when that is a name."""
    what = what or (match if isinstance(match, str) else "matching file")
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError as exc:
        raise PackagedFileMissing(f"the package {distribution!r} is not installed; it ships the {what}") from exc
    wanted = match if callable(match) else (lambda rel: PurePosixPath(rel).name == match)
    for file in dist.files or []:
        if wanted(str(file)):
            return Path(dist.locate_file(file))
    raise PackagedFileMissing(f"the package {distribution!r} is installed but ships no {what}")
