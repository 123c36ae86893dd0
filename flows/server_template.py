"""A migrated, empty Prefect database to start each new output folder's server from.

A new SQLite database makes the per-build server run all of Prefect's migrations before it
answers: its process used about 15 s of CPU from launch to 10 s after it answered, against 9 s
with a database already migrated (this machine's 2 cores; its imports included). The first
server with a new database copies it, once migrated and before the build writes any run into
it, to the user's cache folder (pipeline/user_cache.py, prefect/), named by Prefect's version;
later new folders start from a copy of that. A copy that cannot be made or read is skipped: the
server then migrates as before; a server that fails to start from a copy is started again on a
new database, which then replaces the template (flows/server.py).
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import sqlite3
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from pipeline.io.atomic import atomic_path
from pipeline.user_cache import user_cache_dir

log = logging.getLogger(__name__)


def template_path() -> Path | None:
    try:
        prefect = version("prefect")
    except PackageNotFoundError:
        return None
    return user_cache_dir("prefect") / f"server-prefect-{prefect}.db"


def seed_database(db: Path) -> bool:
    """Copy the template to `db` (which does not exist yet); False when there is none to copy."""
    template = template_path()
    if template is None or not template.is_file():
        return False
    try:
        with atomic_path(db) as tmp:
            shutil.copyfile(template, tmp)
    except OSError as exc:
        log.warning("Prefect server: migrating a new database (template %s unusable: %s)", template, exc)
        return False
    return True


def save_template(db: Path) -> None:
    """Keep a consistent copy of the migrated `db` (SQLite's online backup, safe while the server
    has it open). Failing to is not an error: the next new folder migrates again."""
    template = template_path()
    if template is None:
        return
    try:
        with atomic_path(template) as tmp, contextlib.closing(sqlite3.connect(db)) as src, \
                contextlib.closing(sqlite3.connect(tmp)) as dst:
            src.backup(dst)
    except (OSError, sqlite3.Error) as exc:
        log.warning("Prefect server: could not keep a migrated database template at %s (%s)", template, exc)

