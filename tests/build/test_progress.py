"""Live build counters: model calls count as they complete (per stage, through observe_stats), figures
and an ETA follow from the calls answered, finished shards are counted once however often reported."""

from __future__ import annotations

from pipeline.engine.stats import StatsCounter
from pipeline.build.progress import BuildProgress, duration


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_calls_figures_tokens_and_eta_move_while_a_shard_runs():
    clock = Clock()
    tracker = BuildProgress(clock)
    tracker.set_shards({"part-0": 6, "part-1": 4})
    counter = StatsCounter()
    with tracker.shard("summary", "part-0"):
        counter.add(requests=6)
        clock.now += 10
        counter.add(model_calls=3, tokens_out=200)
        [view] = tracker.snapshot()
        assert (view.state, view.calls_done, view.calls_total, view.figures_done, view.figures_total) == \
            ("running", 3, 6, 3, 10)
        assert view.tokens_per_s == 20.0
        assert view.eta_s == 10 * (1 - 0.3) / 0.3
        assert "summary: running, 3/10 figures, calls 3/6, 20.0 tok/s, 0 rejects, 10s elapsed, ETA 23s" == view.line()
        counter.add(cache_hits=3)
    tracker.shard_done("summary", "part-0", rejects=2, skipped=False)
    tracker.shard_done("summary", "part-0", rejects=2, skipped=False)  # reported again by the flow: once
    [view] = tracker.snapshot()
    assert (view.figures_done, view.rejects, view.state) == (6, 2, "running")
    tracker.shard_done("summary", "part-1", rejects=0, skipped=True)
    [view] = tracker.snapshot()
    assert (view.state, view.figures_done, view.skipped_shards, view.fraction) == ("done", 10, 1, 1.0)
    assert counter.snapshot().model_calls == 3  # the engine's own totals are untouched


def test_calls_outside_a_tracked_shard_are_not_counted():
    tracker = BuildProgress(Clock())
    tracker.set_shards({"part-0": 2})
    counter = StatsCounter()
    counter.add(requests=5, model_calls=5)
    with tracker.step("finalize"):
        counter.add(requests=1, model_calls=1)
    [view] = tracker.snapshot()
    assert (view.name, view.kind, view.calls_total, view.state) == ("finalize", "step", 1, "done")


def test_durations_read_as_people_write_them():
    assert [duration(s) for s in (None, 4.4, 75, 3725)] == ["?", "4s", "1m15s", "1h02m"]
