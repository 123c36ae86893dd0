"""Dataset versions: after each build, a manifest `<out>/versions/vNNNN.json` records the content hash
(sha256) of every output file, the row count per table, the build config (no secrets) and the code
version. Every recorded file is also snapshotted into `<out>/versions/objects/<sha256><suffix>`.

Why snapshots: the shard files under <out> are rewritten in place (atomically: a new file renamed
over the old one) when their inputs change, so a manifest that only named them would silently point
at newer bytes. A hard link to the file being recorded keeps the old bytes alive at no disk cost
(the rename gives the live path a new inode and leaves the link alone); where hard links are not
possible (another file system) the file is copied. Limits: crops and export images are recorded by
name only (their names already are content hashes and they are never rewritten); the response
cache, logs, Prefect state and markers are not versioned.

A build whose files and config match the newest version writes no new manifest.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pyarrow.parquet as pq
from pydantic import BaseModel, Field

from pipeline.io.atomic import atomic_write_text
from pipeline.io.hashing import file_sha256

VERSIONS = "versions"
OBJECTS = "objects"
HASH_CACHE = "_hashes.json"
RECORDED_SUFFIXES = (".parquet", ".jsonl", ".json")
# Top-level folders that are machinery, not dataset content.
SKIPPED_TOP = {VERSIONS, "cache", "_state", "logs", ".prefect", "crops"}
NAMED_BY_HASH = (".png", ".jpg", ".jpeg")  # content-addressed images: recorded by name, not hashed


class FileEntry(BaseModel):
    sha256: str
    bytes: int
    rows: int | None = Field(None, description="Parquet rows; None for other files")


class VersionManifest(BaseModel):
    version: str
    created: str
    files: dict[str, FileEntry] = Field(description="path relative to <out> -> content hash")
    images: list[str] = Field(default_factory=list, description="content-addressed image paths (not snapshotted)")
    counts: dict[str, int] = Field(description="rows per table (qa/<task> etc. per task)")
    config: dict[str, Any]
    code: dict[str, str | None]
    build: dict[str, Any] = Field(default_factory=dict, description="model calls, cache hits, seconds")
    previous: str | None = None

    def content_key(self) -> tuple:
        return ({k: v.sha256 for k, v in self.files.items()}, sorted(self.images), self.config)

    def object_path(self, out_dir: Path, rel: str) -> Path:
        return object_path(out_dir, self.files[rel].sha256, rel)


def object_path(out_dir: Path, sha: str, rel: str) -> Path:
    return Path(out_dir) / VERSIONS / OBJECTS / f"{sha}{Path(rel).suffix}"


# -- reading the output folder --------------------------------------------------------------------


def _recorded(out_dir: Path) -> tuple[list[Path], list[str]]:
    """The files to hash and the content-addressed images to name, in path order. Walked as
    strings, never entering the machinery folders or hidden entries: at 10k figures the folder
    holds ~75k files, most of them crops, and listing it as Path objects set the build's memory
    peak (43 MB of Python objects for the listing alone)."""
    files: list[Path] = []
    images: list[str] = []

    def walk(folder: str, prefix: str) -> None:
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
        for entry in entries:
            name = entry.name
            if name.startswith(".") or (not prefix and name in SKIPPED_TOP):
                continue
            rel = prefix + name
            if entry.is_dir(follow_symlinks=False):
                walk(entry.path, rel + "/")
            elif entry.is_file():
                suffix = os.path.splitext(name)[1]
                if suffix.lower() in NAMED_BY_HASH:
                    images.append(rel)
                elif suffix in RECORDED_SUFFIXES and rel != "_pmc_instruct.json":
                    files.append(out_dir / rel)

    walk(str(out_dir), "")
    return files, images


def _hash_all(out_dir: Path, paths: list[Path]) -> dict[str, str]:
    """sha256 per file, reusing last time's hash when (inode, size, mtime) are unchanged: atomic
    rewrites always give a new inode, so a stale hash cannot survive a rewrite."""
    cache_file = out_dir / VERSIONS / HASH_CACHE
    try:
        cache = json.loads(cache_file.read_text())
    except (OSError, ValueError):
        cache = {}
    fresh, out = {}, {}
    for path in paths:
        rel = path.relative_to(out_dir).as_posix()
        st = path.stat()
        stamp = f"{st.st_ino}:{st.st_size}:{st.st_mtime_ns}"
        sha = cache.get(rel, {}).get("sha256") if cache.get(rel, {}).get("stamp") == stamp else None
        out[rel] = sha or file_sha256(path)
        fresh[rel] = {"stamp": stamp, "sha256": out[rel]}
    atomic_write_text(cache_file, json.dumps(fresh))
    return out


def table_name(rel: str) -> str | None:
    """'qa/mcq/part-00000.parquet' -> 'qa/mcq'; 'figures/part-00000.parquet' -> 'figures'."""
    parts = rel.split("/")
    if not rel.endswith(".parquet") or len(parts) < 2:
        return None
    return "/".join(parts[:-1])


def code_version() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    try:
        package = version("pmc-instruct")
    except PackageNotFoundError:
        package = None
    repo = Path(__file__).resolve().parents[2]
    commit = dirty = None
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip() or None
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo,
                                capture_output=True, text=True, timeout=10, check=True).stdout
        dirty = "yes" if status.strip() else "no"
    except (OSError, subprocess.SubprocessError):
        pass  # not a git checkout (an installed wheel) or no git: the package version must do
    return {"package": package, "git_commit": commit, "git_dirty": dirty}


def _strip_userinfo(url: str) -> str:
    parts = urlsplit(url)
    if parts.username or parts.password:
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def public_config(config: BaseModel) -> dict[str, Any]:
    """The config as JSON, without secrets: API keys are excluded by the model, and credentials
    written into endpoint URLs (http://user:key@host) are stripped."""
    data = json.loads(config.model_dump_json())
    data.pop("force", None)  # what a build reran on purpose, not what it built: no new version for it
    engine = data.get("engine") or {}
    for role in engine.values():
        if isinstance(role, dict) and isinstance(role.get("base_urls"), list):
            role["base_urls"] = [_strip_userinfo(u) for u in role["base_urls"]]
    return data


# -- writing ----------------------------------------------------------------------------------


_hardlink = os.link  # module attribute, so tests can take hard links away


def link_or_copy(src: Path, dest: Path) -> None:
    try:
        _hardlink(src, dest)
    except OSError:  # another file system, or links not supported: pay for a copy
        shutil.copy2(src, dest)


def _snapshot(src: Path, dest: Path) -> None:
    if dest.exists():
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    link_or_copy(src, tmp)
    os.replace(tmp, dest)


def _claim(folder: Path, text: str) -> str:
    """Write the next vNNNN.json without ever overwriting one (os.link fails if the name exists)."""
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".manifest.", suffix=".tmp", dir=folder)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    try:
        while True:
            existing = version_names(folder.parent)  # folder is <out>/versions
            number = max([int(n[1:]) for n in existing], default=0) + 1
            name = f"v{number:04d}"
            try:
                os.link(tmp_name, folder / f"{name}.json")
                return name
            except FileExistsError:
                continue  # another build took that number: take the next
    finally:
        os.unlink(tmp_name)


def record_version(out_dir: Path, config: BaseModel, build: dict[str, Any] | None = None) -> tuple[str, bool]:
    """Snapshot the output folder as a new version; returns (version name, created). When nothing
    changed since the newest version, returns that version's name and False."""
    out_dir = Path(out_dir)
    paths, images = _recorded(out_dir)
    hashes = _hash_all(out_dir, paths)
    files: dict[str, FileEntry] = {}
    counts: dict[str, int] = {}
    for path in paths:
        rel = path.relative_to(out_dir).as_posix()
        rows = pq.read_metadata(path).num_rows if path.suffix == ".parquet" else None
        files[rel] = FileEntry(sha256=hashes[rel], bytes=path.stat().st_size, rows=rows)
        if (table := table_name(rel)) is not None:
            counts[table] = counts.get(table, 0) + (rows or 0)
    latest = latest_version(out_dir)
    manifest = VersionManifest(
        version="", created=datetime.now(timezone.utc).isoformat(timespec="seconds"), files=files,
        images=images, counts=dict(sorted(counts.items())), config=public_config(config), code=code_version(),
        build=build or {}, previous=latest.version if latest else None,
    )
    if latest is not None and latest.content_key() == manifest.content_key():
        return latest.version, False
    for rel, entry in files.items():
        _snapshot(out_dir / rel, object_path(out_dir, entry.sha256, rel))
    folder = out_dir / VERSIONS
    # The name is only known once claimed; the file is rewritten with it atomically right after.
    name = _claim(folder, manifest.model_dump_json(indent=2))
    manifest.version = name
    atomic_write_text(folder / f"{name}.json", manifest.model_dump_json(indent=2))
    return name, True


# -- reading versions ---------------------------------------------------------------------------


def version_names(out_dir: Path) -> list[str]:
    folder = Path(out_dir) / VERSIONS
    if not folder.is_dir():
        return []
    names = [p.stem for p in folder.glob("v*.json") if p.stem[1:].isdigit()]
    return sorted(names, key=lambda n: int(n[1:]))


def load_version(out_dir: Path, name: str) -> VersionManifest:
    if name.isdigit():
        name = f"v{int(name):04d}"
    path = Path(out_dir) / VERSIONS / f"{name}.json"
    if not path.is_file():
        known = ", ".join(version_names(out_dir)) or "none"
        raise FileNotFoundError(f"no version {name} under {Path(out_dir) / VERSIONS} (known: {known})")
    manifest = VersionManifest.model_validate_json(path.read_text(encoding="utf-8"))
    manifest.version = manifest.version or name
    return manifest


def latest_version(out_dir: Path) -> VersionManifest | None:
    names = version_names(out_dir)
    return load_version(out_dir, names[-1]) if names else None


def missing_objects(out_dir: Path, manifest: VersionManifest) -> list[str]:
    return [rel for rel in manifest.files if not manifest.object_path(out_dir, rel).exists()]


def restore_version(out_dir: Path, name: str, dest: Path) -> Path:
    """Materialise a version as a readable dataset folder at `dest` (hard links to the snapshots,
    copies across file systems), with the layout marker, so read_all() and the exports work on it."""
    manifest = load_version(out_dir, name)
    missing = missing_objects(out_dir, manifest)
    if missing:
        raise FileNotFoundError(f"{manifest.version}: {len(missing)} snapshot files are missing, e.g. {missing[0]}")
    dest = Path(dest)
    if dest.exists() and any(dest.iterdir()):
        raise FileExistsError(f"{dest} exists and is not empty; restore into a new folder")
    for rel in manifest.files:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        link_or_copy(manifest.object_path(out_dir, rel), target)
    marker = Path(out_dir) / "_pmc_instruct.json"
    if marker.exists():
        shutil.copy2(marker, dest / marker.name)
    for rel in manifest.images:  # content-addressed, never rewritten: link the live file if still there
        src = Path(out_dir) / rel
        if src.exists():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            link_or_copy(src, dest / rel)
    return dest
