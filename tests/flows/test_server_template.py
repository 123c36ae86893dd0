"""A new output folder's Prefect server starts from a migrated copy of a database (flows/server_template.py).

The functions are tested on SQLite databases of our own; the CLI builds throughout the suite start
real servers through them (the first migrates and keeps the template, later ones are seeded)."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest

from flows import server_template
from flows.server import PrefectServer


@pytest.fixture()
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("PMC_INSTRUCT_MODEL_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "prefect"


def _open_wal_db(path: Path) -> sqlite3.Connection:
    """A database held open in WAL mode with rows still in the log, as a running server holds it."""
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA wal_autocheckpoint=0")
    con.execute("CREATE TABLE alembic_version (version_num TEXT)")
    con.execute("INSERT INTO alembic_version VALUES ('head-of-migrations')")
    con.commit()
    return con


def test_template_is_kept_and_seeds_new_folders(tmp_path, cache):
    db = tmp_path / "first" / "server.db"
    db.parent.mkdir()
    with contextlib.closing(_open_wal_db(db)):
        server_template.save_template(db)  # while the "server" still has it open
    template = server_template.template_path()
    assert template.parent == cache and template.is_file()
    assert "prefect-3." in template.name  # keyed by Prefect's version: its migrations ship with it
    assert not [p for p in cache.iterdir() if p.suffix == ".tmp"]

    new = tmp_path / "second" / "server.db"
    assert server_template.seed_database(new)
    with contextlib.closing(sqlite3.connect(new)) as con:
        assert con.execute("SELECT version_num FROM alembic_version").fetchall() == [("head-of-migrations",)]


def test_no_template_means_migrating_as_before(tmp_path, cache):
    server = PrefectServer(tmp_path / "state")
    assert not server_template.seed_database(server.db_path)
    assert not server.db_path.exists()


def test_a_cache_that_cannot_be_written_is_not_an_error(tmp_path, monkeypatch, caplog):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("PMC_INSTRUCT_MODEL_CACHE", str(blocker))
    db = tmp_path / "server.db"
    with contextlib.closing(_open_wal_db(db)):
        server_template.save_template(db)
    assert "could not keep a migrated database template" in caplog.text
    assert not server_template.seed_database(tmp_path / "other.db")


def test_a_bad_template_costs_one_slow_start_not_the_build(tmp_path):
    """A template that is no database: the server fails on it, starts again on a database of its
    own (migrated from scratch), answers, and a good template (that database) replaces the bad one."""
    import os
    import subprocess
    import sys

    cache = tmp_path / "cache"
    code = ("import sys, urllib.request; from pathlib import Path\n"
            "from flows import server_template as t\n"
            "bad = t.template_path(); bad.parent.mkdir(parents=True); bad.write_bytes(b'not a database' * 100)\n"
            "from flows.server import prefect_api\n"
            "with prefect_api(Path(sys.argv[1])) as url:\n"
            "    print(urllib.request.urlopen(url + '/health', timeout=10).status)\n"
            "import sqlite3; print(sqlite3.connect(bad).execute('select count(*) from alembic_version').fetchone()[0])\n")
    env = {**os.environ, "PMC_INSTRUCT_MODEL_CACHE": str(cache), "PREFECT_HOME": str(tmp_path / "home"),
           "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    env.pop("PREFECT_API_URL", None)
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "state")], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["200", "1"]
    assert "did not start from its database template" in done.stderr
