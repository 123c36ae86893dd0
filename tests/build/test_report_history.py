"""Every build keeps its report under reports/; build-report.md is the latest build that did work, so a
rerun with nothing new does not hide the real build's report."""

from __future__ import annotations

from pathlib import Path

from pipeline.build.report import REPORT_MD, BuildReport, StepReport, did_work, keep_report


def _report(calls: int, skipped: int) -> BuildReport:
    return BuildReport(out_dir="/x", model_calls=calls, steps=[
        StepReport(name="summary", shards=2, skipped_shards=skipped, model_calls=calls, rows=4),
        StepReport(name="finalize", kind="step", shards=1, skipped_shards=1)])


def test_a_noop_rerun_keeps_the_real_builds_report_as_the_latest(tmp_path: Path):
    real = keep_report(tmp_path, _report(calls=12, skipped=0), "brave-otter", now=1_700_000_000)
    noop = keep_report(tmp_path, _report(calls=0, skipped=2), "calm-heron", now=1_700_000_100)
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == [real.name, noop.name]
    assert real.name == "20231114T221320Z-brave-otter.md"
    latest = (tmp_path / REPORT_MD).read_text()
    assert latest.startswith("# Build report") and f"reports/{real.name}" in latest and "**12**" in latest
    again = keep_report(tmp_path, _report(calls=0, skipped=1), "quick-fox", now=1_700_000_200)
    assert f"reports/{again.name}" in (tmp_path / REPORT_MD).read_text()


def test_the_first_build_is_the_latest_even_with_nothing_to_do(tmp_path: Path):
    keep_report(tmp_path, _report(calls=0, skipped=2), "x/y z")
    assert (tmp_path / REPORT_MD).exists()
    assert [p.name.split("-", 1)[1] for p in (tmp_path / "reports").iterdir()] == ["x-y-z.md"]


def test_what_counts_as_work():
    assert did_work(_report(calls=1, skipped=2))
    assert did_work(_report(calls=0, skipped=1))  # a shard redone from the cache
    assert not did_work(_report(calls=0, skipped=2))
    assert did_work(BuildReport(out_dir="/x", new_version=True))
