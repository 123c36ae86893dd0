"""Hugging Face export: `datasets.load_dataset(<export>)` must give images, splits and configs with no
extra code. The build output is made here: final/<task> QARow shards, articles and figures with
licenses, generated images (one a 16-bit TIFF)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image
from typer.testing import CliRunner

from pipeline.exports.hf import export_hf
from pipeline.exports.licenses import license_code
from pipeline.io.parquet import write_rows
from schemas import QARow
from schemas.figure import Article, Figure, SourceFormat
from schemas.provenance import Method, Provenance
from schemas.qa import Turn

LICENSES = {"PMC1": "CC BY", "PMC2": "http://creativecommons.org/licenses/by-nc/4.0/", "PMC3": None}


def make_out(root: Path) -> Path:
    out = root / "out"
    imgs = root / "imgs"
    imgs.mkdir(parents=True)
    paths = {}
    for k, colour in enumerate([(200, 20, 20), (20, 200, 20), (20, 20, 200)]):
        paths[f"PMC{k + 1}"] = imgs / f"PMC{k + 1}_f1.png"
        Image.new("RGB", (40, 30), colour).save(paths[f"PMC{k + 1}"])
    tif = imgs / "PMC3_f1.tif"
    Image.fromarray(np.full((30, 40), 30000, np.uint16)).save(tif)
    paths["PMC3"] = tif
    arts = [Article(article_id=a, pmcid=a, doi=f"10.1234/{a.lower()}", citation=f"Made-up J. 2025; {a}",
                    license=lic, source_format=SourceFormat.JATS, source_path=f"{a}.tar.gz", source_sha256="0" * 64,
                    figure_ids=[f"{a}/F1"], has_images=True) for a, lic in LICENSES.items()]
    figs = [Figure(figure_id=f"{a}/F1", article_id=a, caption="An invented caption.", image_path=str(paths[a]),
                   license=lic, source_format=SourceFormat.JATS, source_path=f"{a}.tar.gz") for a, lic in LICENSES.items()]
    write_rows(out / "articles" / "part-00000.parquet", arts, Article)
    write_rows(out / "figures" / "part-00000.parquet", figs, Figure)
    prov = Provenance(method=Method.VISION_MODEL, model_id="example/tiny-vlm", backend="embedded")

    def row(task: str, a: str, n: int, images: list[Path], split: str, **kw) -> QARow:
        q = f"Invented question {n} about {a}?"
        tags = "<image>\n" * len(images)
        return QARow(qa_id=f"{task}/{a}/F1/{n}", task=task, figure_id=f"{a}/F1", article_id=a,
                     image_paths=[str(p) for p in images], question=q, answer=f"Answer {n}.", split=split,
                     conversation=[Turn(speaker="human", value=tags + q), Turn(speaker="gpt", value=f"Answer {n}.")],
                     provenance=prov, **kw)

    compound = [row("compound_qa", a, 0, [paths[a]], "eval" if a == "PMC2" else "train") for a in LICENSES]
    multi = [row("multi_panel_qa", a, 0, [paths[a], paths["PMC1"]], "train", panel_labels=["A", "B"]) for a in LICENSES]
    text = [row("text_qa", a, 0, [], "train" if a != "PMC3" else "eval") for a in LICENSES]
    for task, rows in (("compound_qa", compound), ("multi_panel_qa", multi), ("text_qa", text)):
        write_rows(out / "final" / task / "part-00000.parquet", rows, QARow)
    return out


@pytest.fixture()
def built(tmp_path: Path) -> Path:
    return make_out(tmp_path)


def test_load_dataset_sees_images_splits_configs(built: Path, tmp_path: Path):
    import datasets

    result = export_hf(built)
    dest = built / "export" / "hf"
    assert result.configs == {"compound_qa": {"train": 2, "eval": 1}, "multi_panel_qa": {"train": 3},
                              "text_qa": {"train": 2, "eval": 1}}
    cache = str(tmp_path / "hf-cache")
    default = datasets.load_dataset(str(dest), cache_dir=cache)  # the first config is the default
    assert set(default) == {"train", "eval"} and default["train"].num_rows == 2
    assert isinstance(default["train"].features["images"], datasets.List)
    assert isinstance(default["train"].features["images"].feature, datasets.Image)
    first = default["train"][0]
    assert isinstance(first["images"][0], Image.Image) and first["images"][0].size == (40, 30)
    assert (first["pmcid"], first["figure_id"], first["license_code"]) == ("PMC1", "PMC1/F1", "CC BY")
    assert first["citation"] == "Made-up J. 2025; PMC1" and first["conversations"][0]["from"] == "human"
    multi = datasets.load_dataset(str(dest), "multi_panel_qa", cache_dir=cache)
    assert list(multi) == ["train"] and [len(r["images"]) for r in multi["train"]] == [2, 2, 2]
    text = datasets.load_dataset(str(dest), "text_qa", cache_dir=cache)
    assert text["eval"][0]["images"] == [] and text["eval"][0]["license_code"] is None
    tif = next(r for r in default["train"] if r["pmcid"] == "PMC3")["images"][0]  # 16-bit TIFF: scaled grey
    assert tif.mode == "RGB" and np.asarray(tif)[0, 0, 0] == round(30000 * 255 / 65535)
    card = (dest / "README.md").read_text()
    front = yaml.safe_load(card.split("---")[1])
    assert front["license"] == "other" and "visual-question-answering" in front["task_categories"]
    assert [c["config_name"] for c in front["configs"]] == ["compound_qa", "multi_panel_qa", "text_qa"]
    assert front["configs"][0]["data_files"] == [{"split": "train", "path": "compound_qa/train-*.parquet"},
                                                 {"split": "eval", "path": "compound_qa/eval-*.parquet"}]
    assert "example/tiny-vlm" in card and "| compound_qa |" in card and front["size_categories"] == ["n<1K"]


def test_license_allow_list(built: Path, tmp_path: Path):
    import datasets

    result = export_hf(built, tmp_path / "ccby", licenses=["cc-by"])
    assert result.licenses == {"CC BY": 3} and result.skipped == {"license CC BY-NC not allowed": 3,
                                                                  "license unknown not allowed": 3}
    ds = datasets.load_dataset(str(tmp_path / "ccby"), "text_qa", cache_dir=str(tmp_path / "c"))
    assert {r["pmcid"] for r in ds["train"]} == {"PMC1"}
    front = yaml.safe_load((tmp_path / "ccby" / "README.md").read_text().split("---")[1])
    assert front["license"] == "cc-by-4.0"


def test_license_codes():
    assert license_code("http://creativecommons.org/licenses/by-nc-nd/4.0/") == "CC BY-NC-ND"
    assert license_code("CC BY-SA") == "CC BY-SA" and license_code("cc-by 4.0") == "CC BY"
    assert license_code("This article is under a Creative Commons Attribution-NonCommercial License.") == "CC BY-NC"
    assert license_code("https://creativecommons.org/publicdomain/zero/1.0/") == "CC0"
    assert license_code("NO-CC CODE") == "NO-CC CODE" and license_code("All rights reserved") is None


def test_cli_export_hf(built: Path):
    from flows.cli import app

    res = CliRunner().invoke(app, ["export", "hf", str(built), "--license", "CC BY", "--task", "compound_qa"])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in (built / "export" / "hf").iterdir()) == ["README.md", "compound_qa"]
    bad = CliRunner().invoke(app, ["export", "hf", str(built), "--license", "CC0"])
    assert bad.exit_code == 2 and "nothing to export" in bad.output
