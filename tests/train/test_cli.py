"""`pmc-instruct finetune --tiny` then `pmc-instruct evaluate` through the real CLI app (in process),
every option documented, and the Prefect flows taking pydantic forms."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from flows.cli import app

pytestmark = pytest.mark.slow


def test_finetune_tiny_then_evaluate(fixture_export, tmp_path):
    runner = CliRunner()
    out = tmp_path / "run"
    res = runner.invoke(app, ["finetune", "--data", str(fixture_export), "--out", str(out), "--tiny",
                              "--max-steps", "2", "--limit", "4", "--batch-size", "2", "--save-every", "1",
                              "--lora-rank", "4", "--lora-target", "q_proj", "--lora-target", "v_proj"])
    assert res.exit_code == 0, res.output
    assert (out / "base-model" / "config.json").is_file()  # the tiny model is a normal model dir
    assert (out / "final" / "adapter_config.json").is_file()
    adapter_cfg = json.loads((out / "final" / "adapter_config.json").read_text())
    assert adapter_cfg["r"] == 4 and "q_proj|v_proj" in adapter_cfg["target_modules"]
    assert len((out / "loss.jsonl").read_text().splitlines()) == 2

    res = runner.invoke(app, ["evaluate", "--data", str(fixture_export), "--finetuned", str(out),
                              "--out", str(tmp_path / "eval"), "--task", "mcq_selection", "--task", "bbox_qa",
                              "--no-embedding", "--max-new-tokens", "3"])
    assert res.exit_code == 0, res.output
    comparison = json.loads((tmp_path / "eval" / "comparison.json").read_text())
    assert set(comparison["tasks"]) == {"mcq_selection", "bbox_qa"}
    assert comparison["model_dirs"]["base"] == str(out / "base-model")


def test_bad_arguments_are_refused(internvl_export, tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["finetune", "--data", str(internvl_export), "--out", str(tmp_path)])
    assert res.exit_code != 0 and "model" in res.output
    res = runner.invoke(app, ["evaluate", "--out", str(tmp_path), "--benchmark", "vqa_rad", "--base", str(tmp_path)])
    assert res.exit_code != 0 and "NAME=PATH" in res.output


def test_every_option_has_help():
    import typer.main

    group = typer.main.get_group(app)
    for name in ("finetune", "evaluate"):
        command = group.commands[name]
        assert command.help
        for param in command.params:
            assert getattr(param, "help", None), f"{name} {param.name} has no help"


def test_flows_take_pydantic_forms():
    from prefect.utilities.callables import parameter_schema

    from flows.evaluate import evaluate_flow
    from flows.finetune import finetune

    train_schema = parameter_schema(finetune.fn).model_dump()
    eval_schema = parameter_schema(evaluate_flow.fn).model_dump()
    assert {"lora", "mode", "grad_accum", "resume"} <= set(json.dumps(train_schema["definitions"]).split('"'))
    assert "TrainConfig" in train_schema["definitions"] and "EvalConfig" in eval_schema["definitions"]
