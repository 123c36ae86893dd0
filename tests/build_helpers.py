"""Helpers shared by tests/stages, tests/flows and tests/deploy: a build input (our demo articles and
format samples, plus the shared JATS articles when present, copied into a temp folder because ingest
reads one folder), our own compound figures for the QA unit tests, configs for the fake server and
the embedded model, and readers for the built tables."""

from __future__ import annotations

import shutil
from pathlib import Path

from pipeline.build import BuildConfig
from pipeline.engine.settings import EngineSettings, ModelRole
from pipeline.ingest.config import IngestConfig
from pipeline.io.parquet import read_all
from schemas import Figure, KnowledgeRow, PerceptionRow, PanelSource, Reject, SummaryRow

PROMPTS = Path(__file__).resolve().parents[1] / "prompts"
STAGES_1_3 = ["ingest", "summary", "knowledge", "perception"]


def make_input(root: Path, shared_jats: Path | None, demo_data: Path) -> Path:
    """<root>/input with our demo articles (demo/), our other-format samples (formats/) and, when
    given, the shared real JATS articles (jats/) side by side."""
    target = root / "input"
    if not target.exists():
        shutil.copytree(demo_data / "demo", target / "demo")
        shutil.copytree(demo_data / "formats", target / "formats")
        if shared_jats is not None:
            shutil.copytree(shared_jats, target / "jats")
    return target


# Our own compound figures for tests/qa_upstream.py, in the order of its LAYOUTS grid (2x2, 1x3,
# 2x1, 1x1, 2x3): names follow the shared figures' <article>-<figure>-1.png pattern.
OWN_COMPOUND = {
    "DEMO1-Figure2-1.png": "demo/demo-002/demo-002-g2.jpg",  # 2x2 sections, letters A-D
    "DEMO2-Figure2-1.png": "demo/demo-003/demo-003-g2.png",  # 1x3 curves, letters A-C
    "DEMO3-Figure1-1.png": "demo/demo-002/demo-002-g1.jpg",  # 1x2 scans, letters A-B
    "DEMO4-Figure1-1.png": "demo/demo-003/demo-003-g1.png",  # a single bar chart
    "DEMO5-Figure1-1.png": "formats/m3llm/images/PMC900121_F1.png",  # 2x2 charts, letters A-D
}


def own_compound_figures(dest: Path, demo_data: Path) -> Path:
    """<dest> holding OWN_COMPOUND as PNG files (the QA upstream reads *.png)."""
    from PIL import Image

    dest.mkdir(parents=True, exist_ok=True)
    for name, rel in OWN_COMPOUND.items():
        with Image.open(demo_data / rel) as img:
            img.convert("RGB").save(dest / name)
    return dest


def openai_settings(base_url: str, vision: bool = True) -> EngineSettings:
    text = ModelRole(backend="openai", base_urls=[base_url], model="fake-model", max_attempts=2,
                     backoff_initial_s=0.0, backoff_max_s=0.0)
    role = text.model_copy(update={"model": "fake-vlm"}) if vision else ModelRole(backend="embedded")
    return EngineSettings(text=text, vision=role)


def config(input_dir: Path, out: Path, settings: EngineSettings, **kw) -> BuildConfig:
    """A build of stages 1-3 unless `stages` says otherwise (stages=None: the whole plan)."""
    kw.setdefault("ingest", IngestConfig(shard_size=4))
    kw.setdefault("stages", STAGES_1_3)
    return BuildConfig(input_dir=input_dir, out_dir=out, engine=settings, **kw)


def bump_version(prompts_dir: Path, name: str) -> str:
    """Raise a template's version in a prompts folder; returns the new version."""
    path = prompts_dir / f"{name}.yaml"
    text = path.read_text()
    old = next(line for line in text.splitlines() if line.startswith("version:"))
    new = str(int(old.split(":", 1)[1].strip().strip('"')) + 1)
    path.write_text(text.replace(old, f'version: "{new}"'))
    return new


def copy_prompts(dest: Path) -> Path:
    shutil.copytree(PROMPTS, dest)
    return dest


class Built:
    """The tables of one output folder, read back through the row models."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.figures = read_all(out / "figures", Figure)
        self.summaries = read_all(out / "summaries", SummaryRow)
        self.knowledge = read_all(out / "knowledge", KnowledgeRow)
        self.perception = read_all(out / "perception", PerceptionRow)

    def rejects(self, stage: str) -> list[Reject]:
        return read_all(self.out / "rejects" / stage, Reject)

    def selected(self, limit: int | None) -> list[Figure]:
        figs = sorted(self.figures, key=lambda f: f.figure_id)
        return figs[:limit] if limit else figs


def perception_targets(fig: Figure) -> int:
    """How many perception rows a figure with an image should get: its panels (unless it is a
    single whole-image panel) plus the whole figure."""
    if not fig.has_image or not fig.image_path:
        return 0
    single = len(fig.panels) == 1 and fig.panels[0].source == PanelSource.WHOLE
    return (0 if single else len(fig.panels)) + 1
