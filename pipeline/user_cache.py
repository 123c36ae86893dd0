"""The per-user cache folder for files we derive once and reuse across builds and output folders:
assembled model files, the panel-letter recogniser's lean graph, a migrated Prefect database.

$PMC_INSTRUCT_MODEL_CACHE when set, else $XDG_CACHE_HOME/pmc-instruct (~/.cache/pmc-instruct).
Everything in it can be deleted; it is made again on next use.
"""

from __future__ import annotations

import os
from pathlib import Path


def user_cache_dir(*parts: str) -> Path:
    if os.environ.get("PMC_INSTRUCT_MODEL_CACHE"):
        root = Path(os.environ["PMC_INSTRUCT_MODEL_CACHE"])
    else:
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pmc-instruct"
    return root.joinpath(*parts)
