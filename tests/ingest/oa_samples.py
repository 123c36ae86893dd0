"""Small PMC Open Access downloads in their published layouts, made here with generated images and
our own text: per-article packages (PMCxxxxxxx.tar.gz with a PMCxxxxxxx/ folder), oa_file_list.csv,
and a bulk oa_comm_xml archive with its filelist CSV."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

FILE_LIST_HEADER = "File,Article Citation,Accession ID,Last Updated (YYYY-MM-DD HH:MM:SS),PMID,License\n"
BULK_LIST_HEADER = "Article File,Article Citation,AccessionID,LastUpdated (YYYY-MM-DD HH:MM:SS),PMID,License,Retracted\n"


def jats(pmcid: str, n_figs: int, with_license: bool = False) -> str:
    figs = "".join(
        f'<fig id="F{k}"><label>Figure {k}</label><caption><p>Made-up figure {k} of {pmcid}. (A) Left panel. '
        f'(B) Right panel.</p></caption><graphic xlink:href="gr{k}"/></fig>' for k in range(1, n_figs + 1))
    paras = "".join(f'<p>Our results appear in <xref ref-type="fig" rid="F{k}">Figure {k}</xref>.</p>'
                    for k in range(1, n_figs + 1))
    lic = ('<permissions><license xlink:href="http://creativecommons.org/licenses/by/4.0/"><p>Open.</p>'
           '</license></permissions>') if with_license else ""
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<article xmlns:xlink="http://www.w3.org/1999/xlink" '
            f'article-type="research-article"><front><article-meta><article-id pub-id-type="pmc">{pmcid[3:]}</article-id>'
            f'<title-group><article-title>Invented study {pmcid}</article-title></title-group>{lic}</article-meta></front>'
            f'<body><sec>{paras}{figs}</sec></body></article>')


def image_bytes(fmt: str, size: tuple[int, int], seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    arr = np.full((size[1], size[0], 3), 255, np.uint8)
    half = size[0] // 2
    arr[8:-8, 8:half - 4] = rng.integers(0, 160, 3, dtype=np.uint8)
    arr[8:-8, half + 4:-8] = rng.integers(0, 160, 3, dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format=fmt)
    return buf.getvalue()


def add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def package_members(pmcid: str, n_figs: int) -> dict[str, bytes]:
    """What PMC puts in one package: the .nxml, a full-size .jpg and a .gif thumbnail per figure, a PDF."""
    members = {f"{pmcid}/article_{pmcid}.nxml": jats(pmcid, n_figs).encode()}
    for k in range(1, n_figs + 1):
        members[f"{pmcid}/gr{k}.jpg"] = image_bytes("JPEG", (320, 200), k)
        members[f"{pmcid}/gr{k}.gif"] = image_bytes("GIF", (80, 50), k)
    members[f"{pmcid}/article_{pmcid}.pdf"] = b"%PDF-1.4 not a real pdf"
    return members


def write_package(folder: Path, pmcid: str, n_figs: int = 2, suffix: str = ".tar.gz") -> Path:
    path = folder / f"{pmcid}{suffix}"
    mode = "w:gz" if suffix in (".tar.gz", ".tgz") else "w"
    with tarfile.open(path, mode) as tar:
        for name, data in package_members(pmcid, n_figs).items():
            add(tar, name, data)
    return path


def extract_package(folder: Path, pmcid: str, n_figs: int = 2) -> None:
    for name, data in package_members(pmcid, n_figs).items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)


def write_file_list(folder: Path, rows: list[tuple[str, str, str]]) -> Path:
    """rows: (pmcid, pmid, license) -> oa_file_list.csv in PMC's column layout."""
    lines = [f"oa_package/0a/1b/{p}.tar.gz,Journal of Made-up Results. 2024 Jan 5; 1(1):{i}-{i + 9},{p},"
             f"2024-01-05 10:00:00,{pmid},{lic}\n" for i, (p, pmid, lic) in enumerate(rows)]
    path = folder / "oa_file_list.csv"
    path.write_text(FILE_LIST_HEADER + "".join(lines), encoding="utf-8")
    return path


def write_bulk(folder: Path, pmcids: list[str], stamp: str = "2026-01-01") -> Path:
    """oa_comm_xml.PMC009xxxxxx.baseline.<date>.tar.gz (XML only) plus its .filelist.csv."""
    base = f"oa_comm_xml.PMC009xxxxxx.baseline.{stamp}"
    with tarfile.open(folder / f"{base}.tar.gz", "w:gz") as tar:
        for p in pmcids:
            add(tar, f"PMC009xxxxxx/{p}.xml", jats(p, 1, with_license=True).encode())
    rows = "".join(f"PMC009xxxxxx/{p}.xml,Made-up Rep. 2025; 2:{i},{p},2025-12-31 23:00:00,{77000 + i},CC BY,no\n"
                   for i, p in enumerate(pmcids))
    (folder / f"{base}.filelist.csv").write_text(BULK_LIST_HEADER + rows, encoding="utf-8")
    return folder / f"{base}.tar.gz"
