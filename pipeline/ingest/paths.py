"""Turn an untrusted href (relative path, URL, bare name without extension) into a file that is
guaranteed to lie inside the input folder. Symlinks are resolved before the containment check,
so a link pointing out of the folder is refused like a "../" path."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlparse

from pipeline.ingest.errors import IngestError
from schemas.reject import RejectReason

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".gif", ".webp", ".bmp")


def is_inside(path: Path, root: Path) -> bool:
    """True when `path`, with every symlink resolved, lies inside `root` (also resolved)."""
    try:
        return path.resolve(strict=False).is_relative_to(root.resolve(strict=False))
    except (OSError, RuntimeError):  # symlink loops
        return False


def _candidates(rel: PurePosixPath) -> list[PurePosixPath]:
    """The exact name first, then the name with each image extension appended (PMC hrefs omit it)."""
    out = [rel]
    if rel.suffix.lower() not in IMAGE_EXTENSIONS:
        out += [rel.with_name(rel.name + ext) for ext in IMAGE_EXTENSIONS]
        out += [rel.with_name(rel.name + ext.upper()) for ext in IMAGE_EXTENSIONS]
    return out


def resolve_href(href: str, base_dir: Path, input_root: Path) -> Path | None:
    """Resolve `href` (as written in the document at `base_dir`) to an existing file inside `input_root`.

    Returns None when no candidate exists. Raises IngestError(PATH_OUTSIDE_INPUT) for absolute paths,
    hrefs that climb out of the input folder, and symlinks whose target is outside it.
    """
    href = (href or "").strip()
    if not href:
        return None
    parsed = urlparse(href)
    if parsed.scheme in ("http", "https", "ftp"):
        # Remote renditions are looked up locally by their basename; nothing is ever fetched.
        rel = PurePosixPath(unquote(PurePosixPath(parsed.path).name))
    elif parsed.scheme == "file" or href.startswith(("/", "\\")) or (len(href) > 1 and href[1] == ":"):
        raise IngestError(RejectReason.PATH_OUTSIDE_INPUT, f"href {href!r} is an absolute path (refused)")
    else:
        rel = PurePosixPath(unquote(href.replace("\\", "/")))
    if str(rel) in ("", "."):
        return None
    root = input_root.resolve()
    lexical = (base_dir / rel).resolve(strict=False) if ".." in rel.parts else None
    if lexical is not None and not lexical.is_relative_to(root) and not is_inside(base_dir / rel, root):
        raise IngestError(RejectReason.PATH_OUTSIDE_INPUT, f"href {href!r} points outside the input folder")
    for cand in _candidates(rel):
        path = base_dir / cand
        if path.is_symlink() or path.exists():
            if not is_inside(path, root):
                raise IngestError(
                    RejectReason.PATH_OUTSIDE_INPUT,
                    f"href {href!r} resolves to {path.resolve()} outside the input folder (symlink or '..')",
                )
            if path.is_file():
                return path.resolve()
    return None
