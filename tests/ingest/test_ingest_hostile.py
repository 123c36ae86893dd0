"""Bad and hostile inputs: each becomes a Reject row (or a sensible conversion) and the run goes on."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image

from hostile import BAD_XML, article, fig, jpeg_bytes, png_bytes, png_header_only, write
from pipeline.ingest import IngestConfig, InputFolderError, run_ingest
from pipeline.io.parquet import read_all
from schemas import Article, Figure, Reject, RejectReason


def ingest(folder: Path, tmp_path: Path, **cfg) -> tuple[list[Figure], list[Reject], list[Article]]:
    out = tmp_path / "out"
    run_ingest(folder, out, IngestConfig(**cfg))
    return (read_all(out / "figures", Figure), read_all(out / "rejects" / "ingest", Reject),
            read_all(out / "articles", Article))


def good_article(folder: Path, name: str = "good", pmcid: str = "100") -> None:
    write(folder / name / "img1.png", png_bytes())
    write(folder / name / f"{name}.xml", article(fig("f1", "img1"), pmcid=pmcid))


def reasons(rejects: list[Reject]) -> list[RejectReason]:
    return [r.reason for r in rejects]


@pytest.mark.parametrize("name,doc,reason", [(n, d, RejectReason(r)) for n, (d, r) in BAD_XML.items()])
def test_bad_xml_is_rejected_and_run_continues(tmp_path: Path, name: str, doc: str, reason: RejectReason):
    src = tmp_path / "in"
    good_article(src)
    write(src / "bad" / f"{name}.xml", doc)
    figures, rejects, articles = ingest(src, tmp_path)
    assert [f.figure_id for f in figures] == ["PMC100/f1"]
    bad = [r for r in rejects if r.item == f"bad/{name}.xml"]
    assert reasons(bad) == [reason], rejects
    assert name in bad[0].detail or "bad/" in bad[0].detail
    assert "root:" not in "".join(f.caption for f in figures)


def test_xxe_file_contents_never_appear(tmp_path: Path):
    secret = write(tmp_path / "secret.txt", "TOP-SECRET-TOKEN")
    src = tmp_path / "in"
    write(src / "a.xml", f'<?xml version="1.0"?><!DOCTYPE article [<!ENTITY s SYSTEM "file://{secret}">]>'
                         '<article><body><fig id="f1"><caption><p>leak: &s;</p></caption></fig></body></article>')
    out = tmp_path / "out"
    run_ingest(src, out)
    blob = b"".join(p.read_bytes() for p in out.rglob("*.parquet"))
    assert b"TOP-SECRET-TOKEN" not in blob


def test_external_dtd_is_never_loaded(tmp_path: Path):
    """A SYSTEM DTD that defines an entity is not read: the entity stays undefined and the file is refused."""
    dtd = write(tmp_path / "evil.dtd", '<!ENTITY secret "LEAKED-FROM-DTD">')
    src = tmp_path / "in"
    good_article(src)
    write(src / "ext.xml", f'<?xml version="1.0"?><!DOCTYPE article SYSTEM "file://{dtd}"><article><body>'
                           '<fig id="f1"><caption><p>&secret;</p></caption></fig></body></article>')
    # A plain external DTD reference without entity use (every PMC file has one) is fine.
    write(src / "plain" / "plain.xml", article(fig("f1", None), pmcid="200",
                                               doctype='\n<!DOCTYPE article SYSTEM "http://example.invalid/jats.dtd">'))
    figures, rejects, _ = ingest(src, tmp_path)
    assert sorted(f.figure_id for f in figures) == ["PMC100/f1", "PMC200/f1"]
    assert reasons([r for r in rejects if r.item == "ext.xml"]) == [RejectReason.XML_FORBIDDEN]
    assert all("LEAKED" not in f.caption for f in figures)


def test_non_utf8_bytes(tmp_path: Path):
    src = tmp_path / "in"
    good_article(src)
    write(src / "latin.xml", article(fig("f1", None)).encode("utf-8").replace(b"A caption.", b"caf\xe9 \xff caption"))
    _, rejects, _ = ingest(src, tmp_path)
    assert reasons(rejects) == [RejectReason.ENCODING]
    assert rejects[0].item == "latin.xml" and "offset" in rejects[0].detail


@pytest.mark.parametrize("kind,reason", [
    ("truncated", RejectReason.IMAGE_CORRUPT),
    ("zero", RejectReason.IMAGE_EMPTY),
    ("garbage", RejectReason.IMAGE_CORRUPT),
])
def test_broken_images_keep_figure_caption_only(tmp_path: Path, kind: str, reason: RejectReason):
    src = tmp_path / "in"
    data = {"truncated": jpeg_bytes((400, 300))[:600], "zero": b"", "garbage": b"not an image at all" * 10}[kind]
    write(src / "a" / "ok.png", png_bytes())
    write(src / "a" / "bad.jpg", data)
    write(src / "a" / "a.xml", article(fig("f1", "ok.png") + fig("f2", "bad.jpg")))
    figures, rejects, articles = ingest(src, tmp_path)
    by_id = {f.figure_id: f for f in figures}
    assert by_id["PMC1/f1"].has_image and not by_id["PMC1/f2"].has_image
    assert by_id["PMC1/f2"].caption == "A caption." and by_id["PMC1/f2"].panels == []
    assert reasons(rejects) == [reason]
    assert rejects[0].figure_id == "PMC1/f2" and "bad.jpg" in rejects[0].detail
    assert articles[0].has_images


def test_missing_image_when_others_exist(tmp_path: Path):
    src = tmp_path / "in"
    write(src / "a" / "ok.png", png_bytes())
    write(src / "a" / "a.xml", article(fig("f1", "ok") + fig("f2", "nowhere")))
    figures, rejects, _ = ingest(src, tmp_path)
    assert [f.has_image for f in figures] == [True, False]
    assert reasons(rejects) == [RejectReason.IMAGE_MISSING] and rejects[0].figure_id == "PMC1/f2"


def test_article_without_any_images_is_caption_only_not_rejected(tmp_path: Path):
    src = tmp_path / "in"
    write(src / "a.xml", article(fig("f1", "gone1") + fig("f2", "gone2")))
    figures, rejects, articles = ingest(src, tmp_path)
    assert [f.has_image for f in figures] == [False, False]
    assert figures[0].mentions and rejects == [] and not articles[0].has_images


@pytest.mark.parametrize("href", ["../outside.png", "../../outside.png", "/etc/passwd", "file:///etc/passwd", "sub/../../outside.png"])
def test_path_traversal_href(tmp_path: Path, href: str):
    write(tmp_path / "outside.png", png_bytes())
    src = tmp_path / "in"
    write(src / "a.xml", article(fig("f1", href)))
    figures, rejects, _ = ingest(src, tmp_path)
    assert figures[0].image_path is None and not figures[0].has_image
    assert RejectReason.PATH_OUTSIDE_INPUT in reasons(rejects)


def test_symlinked_image_escaping_input(tmp_path: Path):
    write(tmp_path / "secret.png", png_bytes())
    src = tmp_path / "in"
    write(src / "a.xml", article(fig("f1", "link.png")))
    os.symlink(tmp_path / "secret.png", src / "link.png")
    figures, rejects, _ = ingest(src, tmp_path)
    assert not figures[0].has_image
    assert reasons(rejects) == [RejectReason.PATH_OUTSIDE_INPUT]


def test_symlinked_document_escaping_input(tmp_path: Path):
    write(tmp_path / "elsewhere.xml", article(fig("f1", None), pmcid="9"))
    src = tmp_path / "in"
    good_article(src)
    os.symlink(tmp_path / "elsewhere.xml", src / "linked.xml")
    figures, rejects, _ = ingest(src, tmp_path)
    assert [f.figure_id for f in figures] == ["PMC100/f1"]
    assert [(r.item, r.reason) for r in rejects] == [("linked.xml", RejectReason.PATH_OUTSIDE_INPUT)]


def test_figure_without_caption_and_huge_caption(tmp_path: Path):
    src = tmp_path / "in"
    write(src / "a.xml", article(fig("f1", None, caption=None) + fig("f2", None, caption="x " * 30_000) + fig("f3", None)))
    figures, rejects, articles = ingest(src, tmp_path, max_caption_chars=10_000)
    assert [f.figure_id for f in figures] == ["PMC1/f3"]
    assert sorted(reasons(rejects)) == sorted([RejectReason.CAPTION_MISSING, RejectReason.CAPTION_TOO_LONG])
    assert articles[0].figure_ids == ["PMC1/f3"]


def test_duplicate_figure_ids(tmp_path: Path):
    src = tmp_path / "in"
    write(src / "a.xml", article(fig("f1", None) + fig("f1", None, caption="Second copy.")))
    write(src / "b.xml", article(fig("f1", None, caption="Same article id again.")))  # same PMCID 1
    figures, rejects, _ = ingest(src, tmp_path)
    assert [f.figure_id for f in figures] == ["PMC1/f1"] and figures[0].caption == "A caption."
    assert reasons(rejects) == [RejectReason.DUPLICATE_ID, RejectReason.DUPLICATE_ID]


def test_too_many_pixels_rejected_before_decoding(tmp_path: Path):
    src = tmp_path / "in"
    write(src / "a" / "big.png", png_bytes((2000, 2000)))
    write(src / "a" / "a.xml", article(fig("f1", "big.png")))
    figures, rejects, _ = ingest(src, tmp_path, max_pixels=1_000_000)
    assert not figures[0].has_image
    assert reasons(rejects) == [RejectReason.IMAGE_TOO_LARGE] and "1000000" in rejects[0].detail


@pytest.mark.parametrize("mode", ["CMYK", "I;16", "P", "RGBA", "LA", "1", "animated"])
def test_unusual_image_modes_are_accepted_as_rgb(tmp_path: Path, mode: str):
    src = tmp_path / "in"
    path = src / "a" / ("img.gif" if mode == "animated" else ("img.jpg" if mode == "CMYK" else "img.png"))
    path.parent.mkdir(parents=True)
    if mode == "animated":
        frames = [Image.new("P", (40, 30), i) for i in (10, 120)]
        frames[0].save(path, save_all=True, append_images=frames[1:], duration=50)
    elif mode == "CMYK":
        Image.new("CMYK", (40, 30), (0, 120, 200, 10)).save(path, format="JPEG")
    else:
        write(path, png_bytes((40, 30), mode=mode))
    write(src / "a" / "a.xml", article(fig("f1", path.name)))
    figures, rejects, _ = ingest(src, tmp_path)
    assert rejects == [] and figures[0].has_image
    assert (figures[0].width, figures[0].height) == (40, 30) and len(figures[0].panels) == 1


def test_empty_and_missing_input_folder(tmp_path: Path):
    (tmp_path / "empty").mkdir()
    write(tmp_path / "empty" / "notes.txt", "nothing to ingest")
    with pytest.raises(InputFolderError, match="no input files"):
        run_ingest(tmp_path / "empty", tmp_path / "out")
    with pytest.raises(InputFolderError, match="does not exist"):
        run_ingest(tmp_path / "absent", tmp_path / "out")


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read files regardless of permissions")
def test_unreadable_file(tmp_path: Path):
    src = tmp_path / "in"
    good_article(src)
    locked = write(src / "locked.xml", article(fig("f1", None), pmcid="5"))
    locked.chmod(0)
    try:
        figures, rejects, _ = ingest(src, tmp_path)
    finally:
        locked.chmod(0o644)
    assert [f.figure_id for f in figures] == ["PMC100/f1"]
    assert [(r.item, r.reason) for r in rejects] == [("locked.xml", RejectReason.INPUT_UNREADABLE)]


def test_unreadable_image_file(tmp_path: Path):
    """A directory where an image file is expected cannot be read: a reject, not a crash."""
    src = tmp_path / "in"
    write(src / "a" / "ok.png", png_bytes())
    (src / "a" / "dir.png").mkdir()
    write(src / "a" / "a.xml", article(fig("f1", "ok.png") + fig("f2", "dir.png")))
    figures, rejects, _ = ingest(src, tmp_path)
    assert [f.has_image for f in figures] == [True, False]
    assert reasons(rejects) == [RejectReason.IMAGE_MISSING]


def test_unreadable_file_even_as_root(tmp_path: Path, monkeypatch):
    """Permission errors are simulated at the OS boundary so the test also runs as root."""
    src = tmp_path / "in"
    good_article(src)
    locked = write(src / "locked.xml", article(fig("f1", None), pmcid="5"))
    real = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        if self.name == locked.name:
            raise PermissionError(13, "Permission denied")
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    figures, rejects, _ = ingest(src, tmp_path)
    assert [f.figure_id for f in figures] == ["PMC100/f1"]
    assert [(r.item, r.reason) for r in rejects] == [("locked.xml", RejectReason.INPUT_UNREADABLE)]
    assert "Permission denied" in rejects[0].detail


def test_oversized_document_is_not_read(tmp_path: Path):
    src = tmp_path / "in"
    good_article(src)
    write(src / "huge.xml", article(fig("f1", None), pmcid="6", extra_body="<p>" + "word " * 5000 + "</p>"))
    figures, rejects, _ = ingest(src, tmp_path, max_file_bytes=10_000)
    assert [(r.item, r.reason) for r in rejects] == [("huge.xml", RejectReason.INPUT_UNREADABLE)]
    assert "exceeds the limit" in rejects[0].detail


def test_decompression_bomb_is_rejected_even_with_a_high_limit(tmp_path: Path):
    """Pillow's own DecompressionBombError (far above its limit) is a reject too, whatever --max-pixels says."""
    src = tmp_path / "in"
    write(src / "a" / "ok.png", png_bytes())
    write(src / "a" / "bomb.png", png_header_only(40_000, 40_000))
    write(src / "a" / "a.xml", article(fig("f1", "ok.png") + fig("f2", "bomb.png")))
    figures, rejects, _ = ingest(src, tmp_path, max_pixels=10**10)
    assert [f.has_image for f in figures] == [True, False]
    assert reasons(rejects) == [RejectReason.IMAGE_TOO_LARGE] and rejects[0].figure_id == "PMC1/f2"
