"""PMC Open Access file lists: the per-package `oa_file_list.csv` / `.txt` (and the commercial /
non-commercial variants) and the bulk `oa_comm_xml.*.filelist.csv` / `.txt`. Each row names a package
or XML file and gives its PMCID, journal citation, PMID and license code ("CC BY", "NO-CC CODE").

Layouts read (header names compared case- and space-insensitively):
  CSV  File, Article Citation, Accession ID, Last Updated (YYYY-MM-DD HH:MM:SS), PMID, License
  CSV/TXT (bulk)  Article File, Article Citation, AccessionID, LastUpdated (...), PMID, License[, Retracted]
  TXT (legacy)  a date line, then tab-separated: file, citation, accession, PMID:nnn, license
Any CSV or TXT in the input folder (or a direct subfolder) whose name contains "file_list" or "filelist" is read.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath

NAME_HINTS = ("file_list", "filelist")
_COLUMNS = {
    "file": ("file", "articlefile"),
    "citation": ("articlecitation", "citation"),
    "pmcid": ("accessionid", "accession"),
    "pmid": ("pmid",),
    "license": ("license",),
    "retracted": ("retracted",),
}


@dataclass(frozen=True)
class ListEntry:
    file: str
    pmcid: str | None
    citation: str | None
    pmid: str | None
    license: str | None
    retracted: bool = False


def is_file_list(name: str) -> bool:
    low = name.lower()
    return low.endswith((".csv", ".txt")) and any(h in low for h in NAME_HINTS)


def _key(name: str) -> str:
    return "".join(ch for ch in name.lower().split("(")[0] if ch.isalnum())


def _clean(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def _entry(values: dict[str, str | None]) -> ListEntry | None:
    file = _clean(values.get("file"))
    if not file:
        return None
    pmid = _clean(values.get("pmid"))
    if pmid and pmid.upper().startswith("PMID:"):
        pmid = _clean(pmid[5:])
    pmcid = _clean(values.get("pmcid"))
    if pmcid and not pmcid.upper().startswith("PMC"):
        pmcid = f"PMC{pmcid}"
    return ListEntry(file=file, pmcid=pmcid, citation=_clean(values.get("citation")), pmid=pmid,
                     license=_clean(values.get("license")),
                     retracted=(_clean(values.get("retracted")) or "").lower() in ("yes", "true", "1"))


def parse_file_list(text: str) -> list[ListEntry]:
    lines = text.lstrip("\ufeff").splitlines()
    if not lines:
        return []
    header = lines[0]
    delimiter = "\t" if "\t" in header else ","
    fields = next(csv.reader([header], delimiter=delimiter))
    mapped = {i: col for i, f in enumerate(fields) for col, names in _COLUMNS.items() if _key(f) in names}
    entries = []
    if "file" in mapped.values():
        for row in csv.reader(io.StringIO("\n".join(lines[1:])), delimiter=delimiter):
            e = _entry({col: row[i] for i, col in mapped.items() if i < len(row)})
            if e:
                entries.append(e)
        return entries
    # Legacy TXT: no header (the first line is the list's date), positional tab-separated columns.
    for row in csv.reader(io.StringIO("\n".join(lines[1:])), delimiter="\t"):
        if len(row) >= 3:
            e = _entry(dict(zip(("file", "citation", "pmcid", "pmid", "license"), row, strict=False)))
            if e:
                entries.append(e)
    return entries


class FileListIndex:
    """Look-up by PMCID and by file name (the package's `PMCxxx.tar.gz` or the bulk member path)."""

    def __init__(self, entries: list[ListEntry]) -> None:
        self.by_pmcid = {e.pmcid.upper(): e for e in entries if e.pmcid}
        self.by_name = {PurePosixPath(e.file).name: e for e in entries}
        self.by_path = {e.file: e for e in entries}

    def __len__(self) -> int:
        return len(self.by_path)

    def find(self, *, pmcid: str | None = None, name: str | None = None) -> ListEntry | None:
        if pmcid and pmcid.upper() in self.by_pmcid:
            return self.by_pmcid[pmcid.upper()]
        if name:
            return self.by_path.get(name) or self.by_name.get(PurePosixPath(name).name)
        return None


def _list_files(root: Path) -> tuple[tuple[str, int, int], ...]:
    """File lists in the input folder and its direct subfolders (where PMC's downloads put them)."""
    found = []
    folders = [root] + sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith((".", "_")))
    for folder in folders:
        for path in sorted(folder.iterdir()):
            if path.is_file() and is_file_list(path.name):
                st = path.stat()
                found.append((str(path), st.st_mtime_ns, st.st_size))
    return tuple(found)


@lru_cache(maxsize=4)
def _load(files: tuple[tuple[str, int, int], ...]) -> FileListIndex:
    entries: list[ListEntry] = []
    for path, _, _ in files:
        entries += parse_file_list(Path(path).read_text(encoding="utf-8", errors="replace"))
    return FileListIndex(entries)


_found: dict[str, tuple[int, tuple[tuple[str, int, int], ...]]] = {}


def _unchanged(files: tuple[tuple[str, int, int], ...]) -> bool:
    try:
        return all((st := Path(p).stat()).st_mtime_ns == m and st.st_size == n for p, m, n in files)
    except OSError:
        return False


def file_lists(input_root: Path) -> FileListIndex:
    """Every file list under the input folder, merged. Called once per archive, so the folder is only
    listed again when it changed (a folder of 100k packages must not be listed 100k times)."""
    root = Path(input_root)
    stamp = root.stat().st_mtime_ns
    known = _found.get(str(root))
    if known is None or known[0] != stamp or not _unchanged(known[1]):
        known = (stamp, _list_files(root))
        _found[str(root)] = known
    return _load(known[1])
