"""PMC Open Access archives read in one streaming pass, never unpacked wholesale.

Per-article packages (`PMC13900.tar.gz` holding `PMC13900/<name>.nxml` with its `.jpg`/`.gif`/`.tif`
figures, PDFs and supplements) and bulk archives (`oa_comm_xml.PMC000xxxxxx.baseline.<date>.tar.gz`
holding `PMC000xxxxxx/PMC176545.xml` members) are both `.tar.gz`, `.tgz` or `.tar`. Members are read
in archive order (tarfile's stream mode, so gzip is decoded once and nothing is seeked): XML stays in
memory and is parsed when its folder is complete; image members are copied to
`<out>/sources/<archive>/...` because later stages read figure pixels from disk, and images no figure
uses are deleted again. Every other member (PDF, video, supplements) is skipped unread.

Safety: member names that are absolute or climb out with "..", symlinks, hard links and device
files are refused (a Reject each); members over IngestConfig.max_file_bytes are skipped; member count
and total uncompressed bytes are capped; a truncated or corrupt archive ends with a Reject naming the
archive and the member being read, and the articles completed before it are kept.
"""

from __future__ import annotations

import hashlib
import shutil
import tarfile
import zlib
from pathlib import Path, PurePosixPath

from pipeline.ingest.config import IngestConfig
from pipeline.ingest.errors import IngestError
from pipeline.ingest.figures import ParsedFile, reject
from pipeline.ingest.filelists import FileListIndex
from pipeline.ingest.jats import parse_jats_bytes
from pipeline.ingest.paths import IMAGE_EXTENSIONS
from schemas.reject import RejectReason

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")
XML_SUFFIXES = (".nxml", ".xml")
FLUSH_XML = 256  # parse a folder's XML in batches of this size while it has shown no image (bulk archives)


def is_archive(name: str) -> bool:
    return name.lower().endswith(ARCHIVE_SUFFIXES)


def archive_sha256(path: Path) -> str:
    """Content hash read in blocks (archives can be many GB; they are never held in memory)."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def extraction_root(out_dir: Path, rel: str) -> Path:
    return Path(out_dir) / "sources" / rel


def apply_file_list(parsed: ParsedFile, lists: FileListIndex, *names: str) -> None:
    """PMCID, PMID, citation and license code from the OA file list, when it lists the article (by
    PMCID, else by one of `names`: the XML member or the package file name)."""
    for art in parsed.articles:
        entry = lists.find(pmcid=art.pmcid) or next((e for n in names if (e := lists.find(name=n))), None)
        if entry is None:
            continue
        art.pmcid = art.pmcid or entry.pmcid
        art.pmid = art.pmid or entry.pmid
        art.citation = entry.citation
        if entry.license:
            art.license = entry.license
            for fig in parsed.figures:
                if fig.article_id == art.article_id:
                    fig.license = entry.license


def _unsafe(member: tarfile.TarInfo) -> str | None:
    name = member.name.replace("\\", "/")
    parts = PurePosixPath(name).parts
    if name.startswith("/") or (len(name) > 1 and name[1] == ":") or ".." in parts:
        return "member path escapes the archive folder; not extracted"
    if member.issym() or member.islnk():
        return f"link to {member.linkname!r}; links are never followed"
    if not (member.isfile() or member.isdir()):
        return "device, FIFO or other special member; skipped"
    return None


class _Reader:
    """State of one streaming pass: the folder being collected and its XML members."""

    def __init__(self, path: Path, rel: str, root: Path, sha256: str, config: IngestConfig, lists: FileListIndex):
        self.path, self.rel, self.root, self.sha, self.config, self.lists = path, rel, root, sha256, config, lists
        self.out = ParsedFile()
        self.folder: PurePosixPath | None = None
        self.xml: list[tuple[str, bytes]] = []
        self.images_here = False

    def flush(self) -> None:
        for member, data in self.xml:
            item = f"{self.rel}:{member}"
            base = self.root / PurePosixPath(member).parent
            try:
                parsed = parse_jats_bytes(data, item, base, self.root, self.sha, self.config, source=self.rel)
            except IngestError as exc:
                self.out.rejects.append(reject(item, exc.reason, exc.detail))
                continue
            except Exception as exc:  # noqa: BLE001 - one bad article must not end the archive
                self.out.rejects.append(reject(item, RejectReason.INPUT_INVALID, f"{item}: unexpected {type(exc).__name__}: {exc}"))
                continue
            apply_file_list(parsed, self.lists, member, PurePosixPath(self.rel).name)
            self.out.articles += parsed.articles
            self.out.figures += parsed.figures
            self.out.rejects += parsed.rejects
        self.xml = []

    def read(self) -> ParsedFile:
        count = total = 0
        current = "(archive header)"
        try:
            with tarfile.open(self.path, mode="r|*") as tar:
                for member in tar:
                    current, count = member.name, count + 1
                    item = f"{self.rel}:{member.name}"
                    if count > self.config.archive_max_members:
                        self.out.rejects.append(reject(item, RejectReason.INPUT_UNREADABLE,
                                                       f"{self.rel}: more than {self.config.archive_max_members} members; rest of the archive not read"))
                        break
                    problem = _unsafe(member)
                    if problem:
                        self.out.rejects.append(reject(item, RejectReason.PATH_OUTSIDE_INPUT, f"{item}: {problem}"))
                        continue
                    low = member.name.lower()
                    kind = "xml" if low.endswith(XML_SUFFIXES) else "image" if low.endswith(IMAGE_EXTENSIONS) else None
                    if not member.isfile() or kind is None:
                        continue
                    if member.size > self.config.max_file_bytes:
                        self.out.rejects.append(reject(item, RejectReason.INPUT_UNREADABLE,
                                                       f"{item}: {member.size} bytes exceeds the limit of {self.config.max_file_bytes}; skipped"))
                        continue
                    total += member.size
                    if total > self.config.archive_max_bytes:
                        self.out.rejects.append(reject(item, RejectReason.INPUT_UNREADABLE,
                                                       f"{self.rel}: members exceed {self.config.archive_max_bytes} bytes in all; rest not read"))
                        break
                    folder = PurePosixPath(member.name).parent
                    if folder != self.folder or (len(self.xml) >= FLUSH_XML and not self.images_here):
                        self.flush()
                        if folder != self.folder:
                            self.folder, self.images_here = folder, False
                    source = tar.extractfile(member)
                    if kind == "xml":
                        self.xml.append((member.name, source.read()))
                    else:
                        dest = self.root / member.name
                        dest.parent.mkdir(parents=True, exist_ok=True)
                        with open(dest, "wb") as fh:
                            shutil.copyfileobj(source, fh)
                        self.images_here = True
            self.flush()
        except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
            dropped = f"; {len(self.xml)} article(s) of that folder dropped" if self.xml else ""
            self.out.rejects.append(reject(f"{self.rel}:{current}", RejectReason.INPUT_UNREADABLE,
                                           f"{self.rel}: archive truncated or corrupt while reading member {current!r} "
                                           f"({type(exc).__name__}: {exc}){dropped}"))
        return self.out


def _prune(root: Path, keep: set[str]) -> None:
    """Delete extracted images no figure uses (thumbnails, lost renditions) and empty folders."""
    if not root.exists():
        return
    for path in sorted(root.rglob("*"), reverse=True):
        if path.is_file() and str(path.resolve()) not in keep:
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()


def parse_archive(path: Path, rel: str, out_dir: Path, sha256: str, config: IngestConfig,
                  lists: FileListIndex) -> ParsedFile:
    """All articles of one archive; figure images end up under <out>/sources/<rel>/."""
    root = extraction_root(out_dir, rel)
    if root.exists():
        shutil.rmtree(root)  # a changed archive is re-read from scratch
    root.mkdir(parents=True)
    out = _Reader(Path(path), rel, root.resolve(), sha256, config, lists).read()
    _prune(root, {f.image_path for f in out.figures if f.image_path})
    return out
