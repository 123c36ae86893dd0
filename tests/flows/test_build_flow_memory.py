"""The build-dataset flow lets go of the stage objects before its global steps: finalize, the build's
memory peak, must not run beside de-leak's embedding memo (up to 16k vectors) or anything else a
stage holds for the length of the run."""

from __future__ import annotations

import gc

import pytest
from build_helpers import config, openai_settings

from pipeline.build.steps import FinalizeStep
from pipeline.deleak import DeleakConfig
from pipeline.deleak.stage import DeleakStage
from pipeline.stages.base import Stage

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]


def test_stage_objects_are_released_before_finalize(build_input, fake_server, tmp_path, monkeypatch):
    from flows.build import build_dataset

    seen: dict[str, int] = {}
    execute = FinalizeStep.execute

    def counting_execute(self, ctx):
        gc.collect()  # what is left is referenced, not merely waiting for the cycle collector
        live = [o for o in gc.get_objects() if isinstance(o, Stage)]
        seen["stages"] = len(live)
        seen["deleak"] = sum(isinstance(o, DeleakStage) for o in live)
        return execute(self, ctx)

    monkeypatch.setattr(FinalizeStep, "execute", counting_execute)
    # embedding_weight 0: de-leak scores by word overlap only, so the test needs no MiniLM
    cfg = config(build_input, tmp_path / "out", openai_settings(fake_server.base_url), limit=4, stages=None,
                 deleak=DeleakConfig(embedding_weight=0.0))
    report = build_dataset(cfg)
    assert report.step("finalize") is not None and any(s.name.startswith("deleak.") and s.rows for s in report.steps)
    assert seen == {"stages": 0, "deleak": 0}
