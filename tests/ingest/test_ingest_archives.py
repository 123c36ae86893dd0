"""PMC OA archives ingested directly, in the layouts PMC publishes (built in tests/ingest/oa_samples.py)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from oa_samples import add, extract_package, image_bytes, jats, write_bulk, write_file_list, write_package

from pipeline.ingest import IngestConfig, run_ingest
from pipeline.ingest.filelists import is_file_list, parse_file_list
from pipeline.io.parquet import read_rows
from schemas.figure import Article, Figure
from schemas.reject import Reject


def rows(out: Path):
    return rows_of(out)


def rows_of(out: Path):
    figs = [f for p in sorted((out / "figures").glob("*.parquet")) for f in read_rows(p, Figure)]
    arts = [a for p in sorted((out / "articles").glob("*.parquet")) for a in read_rows(p, Article)]
    rejs = [r for p in sorted((out / "rejects" / "ingest").glob("*.parquet")) for r in read_rows(p, Reject)]
    return figs, arts, rejs


def test_packages_match_the_extracted_articles(tmp_path: Path):
    src, flat = tmp_path / "oa", tmp_path / "flat"
    src.mkdir(), flat.mkdir()
    ids = ["PMC9000001", "PMC9000002", "PMC9000003"]
    write_package(src, ids[0], 3)
    write_package(src, ids[1], 2, ".tgz")
    write_package(src, ids[2], 1, ".tar")
    for folder in (src, flat):
        write_file_list(folder, [(ids[0], "31000001", "CC BY"), (ids[1], "31000002", "CC BY-NC")])
    for p, n in zip(ids, (3, 2, 1), strict=True):
        extract_package(flat, p, n)
    cfg = IngestConfig(detect_panels=False)
    result = run_ingest(src, tmp_path / "out", cfg)
    flat_result = run_ingest(flat, tmp_path / "out_flat", cfg)
    assert result.files_seen == 3 and result.figures == flat_result.figures == 6
    assert result.figures_with_image == flat_result.figures_with_image == 6
    figs, arts, rejs = rows(tmp_path / "out")
    assert rejs == []
    for fig in figs:  # the full-size JPEG wins over the GIF thumbnail, and lives under <out>/sources/
        assert fig.image_path.endswith(".jpg") and (tmp_path / "out" / "sources").resolve().as_posix() in fig.image_path
        assert Path(fig.image_path).is_file() and fig.source_path.startswith("PMC900000")
        assert fig.mentions and fig.width == 320
    left = sorted(p.name for p in (tmp_path / "out" / "sources").rglob("*") if p.is_file())
    assert left == sorted(f"gr{k}.jpg" for n in (3, 2, 1) for k in range(1, n + 1))  # thumbnails, PDFs not kept
    by_id = {a.article_id: a for a in arts}
    assert by_id[ids[0]].license == "CC BY" and by_id[ids[0]].pmid == "31000001"
    assert by_id[ids[0]].citation.startswith("Journal of Made-up Results. 2024")
    assert by_id[ids[1]].license == "CC BY-NC" and by_id[ids[2]].license is None
    assert {f.license for f in figs if f.article_id == ids[1]} == {"CC BY-NC"}
    # the file list also serves the extracted copies (matched by PMCID)
    _, flat_arts, _ = rows(tmp_path / "out_flat")
    assert {a.article_id: a.license for a in flat_arts}[ids[0]] == "CC BY"


def test_unchanged_archive_skipped_changed_one_reread(tmp_path: Path):
    src = tmp_path / "oa"
    src.mkdir()
    write_package(src, "PMC9000011", 2)
    write_package(src, "PMC9000012", 1)
    out = tmp_path / "out"
    first = run_ingest(src, out, IngestConfig(detect_panels=False))
    again = run_ingest(src, out, IngestConfig(detect_panels=False))
    assert first.figures == 3 and again.files_skipped == 2 and again.figures == 0
    write_package(src, "PMC9000012", 3)  # the package was updated upstream
    third = run_ingest(src, out, IngestConfig(detect_panels=False))
    assert third.files_skipped == 1 and third.files_changed == 1 and third.figures == 3
    figs, _, _ = rows(out)
    assert sorted(f.figure_id for f in figs) == ["PMC9000011/F1", "PMC9000011/F2", "PMC9000012/F1", "PMC9000012/F2", "PMC9000012/F3"]
    assert all(Path(f.image_path).is_file() for f in figs)


def test_bulk_archive_with_filelist(tmp_path: Path):
    src = tmp_path / "bulk"
    src.mkdir()
    ids = [f"PMC91000{i:02d}" for i in range(5)]
    write_bulk(src, ids)
    result = run_ingest(src, tmp_path / "out", IngestConfig(detect_panels=False))
    figs, arts, rejs = rows(tmp_path / "out")
    assert result.articles == 5 and result.figures == 5 and result.figures_with_image == 0
    assert rejs == []  # XML-only bulk archives carry no images: caption-only figures, not losses
    assert {a.license for a in arts} == {"CC BY"} and arts[0].citation.startswith("Made-up Rep.")
    assert {a.source_path for a in arts} == {"oa_comm_xml.PMC009xxxxxx.baseline.2026-01-01.tar.gz"}


def test_file_list_variants():
    legacy = "2024-01-05 10:00:00\noa_package/08/e0/PMC13900.tar.gz\tBreast Res. 2001; 3(1):55\tPMC13900\tPMID:11250746\tNO-CC CODE\n"
    (entry,) = parse_file_list(legacy)
    assert (entry.pmcid, entry.pmid, entry.license) == ("PMC13900", "11250746", "NO-CC CODE")
    tsv = "Article File\tArticle Citation\tAccessionID\tLastUpdated (YYYY-MM-DD HH:MM:SS)\tPMID\tLicense\tRetracted\n" \
          "PMC000xxxxxx/PMC176545.xml\tPLoS One. 2003; 1:E5\tPMC176545\t2023-12-18 10:00:00\t14551903\tCC BY\tyes\n"
    (entry,) = parse_file_list(tsv)
    assert entry.file == "PMC000xxxxxx/PMC176545.xml" and entry.retracted and entry.license == "CC BY"
    for name in ("oa_file_list.csv", "oa_file_list.txt", "oa_comm_use_file_list.csv", "oa_non_comm_use_file_list.txt",
                 "oa_comm_xml.PMC000xxxxxx.baseline.2024-06-18.filelist.csv",
                 "oa_noncomm_xml.incr.2024-06-19.filelist.txt"):
        assert is_file_list(name), name
    assert not is_file_list("oa_comm_xml.PMC000xxxxxx.baseline.2024-06-18.tar.gz") and not is_file_list("notes.csv")


def test_bulk_txt_file_list_read_from_folder(tmp_path: Path):
    src = tmp_path / "bulk"
    src.mkdir()
    archive = write_bulk(src, ["PMC9500001"], stamp="2026-02-02")
    archive.with_name(archive.name.replace(".tar.gz", ".filelist.csv")).unlink()
    header = "Article File\tArticle Citation\tAccessionID\tLastUpdated (YYYY-MM-DD HH:MM:SS)\tPMID\tLicense\tRetracted\n"
    row = "PMC009xxxxxx/PMC9500001.xml\tMade-up Rep. 2026; 3:1\tPMC9500001\t2026-02-02 01:00:00\t77123\tCC BY-NC\tno\n"
    archive.with_name(archive.name.replace(".tar.gz", ".filelist.txt")).write_text(header + row)
    run_ingest(src, tmp_path / "out", IngestConfig(detect_panels=False))
    _, arts, _ = rows_of(tmp_path / "out")
    assert (arts[0].license, arts[0].pmid, arts[0].citation) == ("CC BY-NC", "77123", "Made-up Rep. 2026; 3:1")


def hostile_archive(path: Path) -> None:
    with tarfile.open(path, "w:gz") as tar:
        add(tar, "PMC9200001/a.nxml", jats("PMC9200001", 1).encode())
        add(tar, "PMC9200001/gr1.jpg", image_bytes("JPEG", (120, 80), 1))
        add(tar, "../escape.jpg", image_bytes("JPEG", (10, 10), 2))
        add(tar, "/abs/evil.nxml", b"<article/>")
        link = tarfile.TarInfo("PMC9200001/gr9.jpg")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
        add(tar, "PMC9200001/huge.jpg", b"x" * 5000)


def test_unsafe_members_refused(tmp_path: Path):
    src = tmp_path / "in"
    src.mkdir()
    hostile_archive(src / "PMC9200001.tar.gz")
    result = run_ingest(src, tmp_path / "out", IngestConfig(detect_panels=False, max_file_bytes=4000))
    figs, _, rejs = rows(tmp_path / "out")
    assert result.figures_with_image == 1 and figs[0].image_path.endswith("gr1.jpg")
    details = " | ".join(r.detail for r in rejs)
    assert "../escape.jpg" in details and "/abs/evil.nxml" in details and "links are never followed" in details
    assert "huge.jpg: 5000 bytes exceeds" in details
    assert not (tmp_path / "escape.jpg").exists() and not (tmp_path / "out" / "escape.jpg").exists()
    assert {r.reason for r in rejs} == {"path-outside-input", "input-unreadable"}


def test_truncated_and_corrupt_archives_fail_loudly(tmp_path: Path):
    src = tmp_path / "in"
    src.mkdir()
    good = write_package(src, "PMC9300001", 3)
    data = good.read_bytes()
    (src / "PMC9300002.tar.gz").write_bytes(data[: len(data) // 2])
    good.unlink()
    (src / "PMC9300003.tar.gz").write_bytes(b"\x1f\x8b\x08\x00 this is not gzip data at all")
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        add(tar, "PMC9300004/a.nxml", jats("PMC9300004", 1).encode())
    (src / "PMC9300004.tar").write_bytes(raw.getvalue()[:700])
    result = run_ingest(src, tmp_path / "out", IngestConfig(detect_panels=False))
    _, _, rejs = rows(tmp_path / "out")
    by_item = {r.item.split(":")[0]: r for r in rejs if r.reason == "input-unreadable"}
    assert set(by_item) == {"PMC9300002.tar.gz", "PMC9300003.tar.gz", "PMC9300004.tar"}
    assert "truncated or corrupt while reading member 'PMC9300001/" in by_item["PMC9300002.tar.gz"].detail
    assert "truncated or corrupt" in by_item["PMC9300004.tar"].detail and "PMC9300004/a.nxml" in by_item["PMC9300004.tar"].detail
    assert result.figures == 0


def test_member_count_limit(tmp_path: Path):
    src = tmp_path / "in"
    src.mkdir()
    write_package(src, "PMC9400001", 3)  # 8 members
    run_ingest(src, tmp_path / "out", IngestConfig(detect_panels=False, archive_max_members=4))
    _, _, rejs = rows(tmp_path / "out")
    assert any("more than 4 members" in r.detail for r in rejs)


def test_no_input_message_names_archives(tmp_path: Path):
    import pytest

    from pipeline.ingest import InputFolderError

    (tmp_path / "empty").mkdir()
    with pytest.raises(InputFolderError, match=r"\.tar\.gz"):
        run_ingest(tmp_path / "empty", tmp_path / "out")
