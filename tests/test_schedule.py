"""Pipelined shard stages (pipeline.schedule), the cross-loop slot pool and step times as unions."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from pipeline.build.report import StepReport
from pipeline.engine.slots import SlotPool
from pipeline.schedule import ShardFeed, ShardPipeline, stage_dependencies
from pipeline.stages.runner import ShardOutcome
from pipeline.timing import union_seconds


@dataclass
class FakeStage:  # only what the scheduler reads: a name and the tables in and out
    name: str
    output_table: str
    input_tables: tuple[str, ...]


STAGES = [
    FakeStage("summary", "summaries", ("figures",)),
    FakeStage("knowledge", "knowledge", ("figures", "summaries")),
    FakeStage("perception", "perception", ("figures",)),
    FakeStage("qa.text", "qa/text", ("figures", "summaries", "knowledge", "perception")),
    FakeStage("deleak.text", "deleaked/text", ("figures", "qa/text")),
]


def test_dependencies_follow_the_tables_a_stage_reads():
    assert stage_dependencies(STAGES) == [[], [0], [], [0, 1, 2], [3]]


class Recorder:
    """Runs pairs on a thread pool, recording concurrency and the order of starts and ends."""

    def __init__(self, workers: int, seconds: float = 0.02, slow: dict | None = None) -> None:
        self.pool = ThreadPoolExecutor(workers)
        self.lock = threading.Lock()
        self.running = self.peak = 0
        self.events: list[tuple[str, str, str]] = []
        self.seconds, self.slow = seconds, slow or {}

    def work(self, stage, shard):
        with self.lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
            self.events.append(("start", stage.name, shard))
        time.sleep(self.slow.get((stage.name, shard), self.seconds))
        with self.lock:
            self.running -= 1
            self.events.append(("end", stage.name, shard))
        return ShardOutcome(stage.name, shard, False, 1, 0, started=time.time() - 0.01, ended=time.time())

    def run(self, shards, max_in_flight, current=lambda st, sh: False):
        settled = []

        def check(st, sh):
            if not current(st, sh):
                return None
            settled.append((st.name, sh))
            return ShardOutcome(st.name, sh, True, 0, 0)

        return ShardPipeline(STAGES, shards, max_in_flight).run(
            check=check,
            submit=lambda st, sh: self.pool.submit(self.work, st, sh),
            result=lambda f: f.result(),
        ), settled


def test_bounded_concurrency_is_honoured_and_every_pair_runs_after_its_inputs():
    rec = Recorder(workers=16)
    shards = [f"part-{i:05d}.parquet" for i in range(6)]
    outcomes, _ = rec.run(shards, max_in_flight=3)
    assert rec.peak == 3  # never more than the bound, although 16 threads were free
    assert [[o.shard for o in per_stage] for per_stage in outcomes] == [shards] * len(STAGES)
    order = {(kind, st, sh): n for n, (kind, st, sh) in enumerate(rec.events)}
    for i, stage in enumerate(STAGES):
        for j in stage_dependencies(STAGES)[i]:
            for sh in shards:
                assert order[("end", STAGES[j].name, sh)] < order[("start", stage.name, sh)]
    assert all(o.queued_at > 0 for per_stage in outcomes for o in per_stage)


def test_a_shard_does_not_wait_for_other_shards_of_the_stage_before():
    # shard 1's summary is slow; shard 0 must go all the way through meanwhile
    shards = ["part-00000.parquet", "part-00001.parquet"]
    rec = Recorder(workers=4, seconds=0.01, slow={("summary", shards[1]): 0.5})
    rec.run(shards, max_in_flight=4)
    order = {(kind, st, sh): n for n, (kind, st, sh) in enumerate(rec.events)}
    assert order[("end", "deleak.text", shards[0])] < order[("end", "summary", shards[1])]


def test_current_pairs_are_settled_without_a_submission():
    rec = Recorder(workers=2)
    shards = ["part-00000.parquet", "part-00001.parquet"]
    outcomes, settled = rec.run(shards, 2, current=lambda st, sh: st.name in ("summary", "perception"))
    assert sorted(settled) == sorted((n, sh) for n in ("summary", "perception") for sh in shards)
    assert not any(st in ("summary", "perception") for _, st, _ in rec.events)
    assert outcomes[0][0].skipped and not outcomes[3][0].skipped


def test_a_failure_stops_new_work_and_is_raised_after_running_pairs_finish():
    rec = Recorder(workers=4)

    def work(stage, shard):
        if stage.name == "knowledge" and shard.endswith("0.parquet"):
            raise RuntimeError("boom")
        return rec.work(stage, shard)

    with pytest.raises(RuntimeError, match="boom"):
        ShardPipeline(STAGES, ["part-00000.parquet", "part-00001.parquet"], 2).run(
            check=lambda st, sh: None,
            submit=lambda st, sh: rec.pool.submit(work, st, sh), result=lambda f: f.result())
    assert rec.running == 0  # nothing left behind still running
    assert not any(st == "deleak.text" for _, st, _ in rec.events)


def test_slot_pool_bounds_calls_across_event_loops_and_threads():
    pool = SlotPool(3)
    lock = threading.Lock()
    state = {"now": 0, "peak": 0, "done": 0}

    async def call():
        async with pool:
            with lock:
                state["now"] += 1
                state["peak"] = max(state["peak"], state["now"])
            await asyncio.sleep(0.01)
            with lock:
                state["now"] -= 1
                state["done"] += 1

    async def shard():
        await asyncio.gather(*(call() for _ in range(10)))

    threads = [threading.Thread(target=asyncio.run, args=(shard(),)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert state == {"now": 0, "peak": 3, "done": 40}
    assert pool.in_use == 0


def test_slot_pool_passes_on_the_slot_of_a_cancelled_waiter():
    pool = SlotPool(1)

    async def main():
        await pool.acquire()
        waiter = asyncio.create_task(pool.acquire())
        await asyncio.sleep(0.01)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        pool.release()
        await asyncio.wait_for(pool.acquire(), 1)  # the slot was not lost with the cancelled waiter
        pool.release()

    asyncio.run(main())
    assert pool.in_use == 0


def test_union_counts_overlaps_once():
    assert union_seconds([]) == 0
    assert union_seconds([(0, 10), (2, 5), (8, 12), (20, 21)]) == 13
    assert union_seconds([(5, 5), (3, 1)]) == 0  # empty or backwards intervals count nothing


def test_step_times_are_unions_not_sums(tmp_path):
    # ten shards running side by side for 10 s each: the stage took 10 s of wall time, not 100 s
    outcomes = [
        ShardOutcome("summary", f"part-{i:05d}.parquet", False, 1, 0, seconds=10.0, started=100.0, ended=110.0,
                     cpu_seconds=0.5, model_spans=[[101.0, 109.0]], queued_at=100.0 - i)
        for i in range(10)
    ]
    outcomes.append(ShardOutcome("summary", "part-00010.parquet", True, 3, 0))  # skipped: no time
    report = StepReport.from_shards("summary", "summaries", outcomes, tmp_path)
    assert report.seconds == 10.0 and sum(o.seconds for o in outcomes) == 100.0
    assert report.cpu_seconds == 5.0  # CPU adds up over threads
    assert report.model_seconds == 8.0
    assert report.queue_seconds == 9.0  # waits from t=91 to t=100 overlap into 9 s
    assert "| summary | 13 | 0 | 11 | 1 |" in _markdown(report)


def _markdown(step: StepReport) -> str:
    from pipeline.build.report import BuildReport

    return BuildReport(out_dir="x", steps=[step]).to_markdown()


def test_no_shards_still_reports_every_stage():
    done = []
    outcomes = ShardPipeline(STAGES, [], 2).run(check=None, submit=None, result=None,
                                                on_stage_done=lambda i, outs: done.append((i, outs)))
    assert outcomes == [[] for _ in STAGES] and done == [(i, []) for i in range(len(STAGES))]


def test_shards_fed_while_running_start_before_the_feed_closes():
    """Ingest announces shards as it writes them: the first shard goes through every stage while
    later ones are still coming, and a stage is reported done only once the feed is closed."""
    rec = Recorder(workers=4, seconds=0.01)
    feed, announced, done = ShardFeed(), [], []
    shards = [f"part-{i:05d}.parquet" for i in range(3)]

    def ingest():
        for shard in shards:
            feed.put(shard)
            feed.put(shards[0])  # announced again (a retried ingest): ignored
            time.sleep(0.3)
        done.append(("closed", time.time()))
        feed.close()

    threading.Thread(target=ingest).start()
    outcomes = ShardPipeline(STAGES, [], 4).run(
        check=lambda st, sh: None, submit=lambda st, sh: rec.pool.submit(rec.work, st, sh),
        result=lambda f: f.result(), feed=feed, on_shard=announced.append,
        on_stage_done=lambda i, outs: done.append((STAGES[i].name, time.time())))
    assert announced == shards
    assert [[o.shard for o in per_stage] for per_stage in outcomes] == [shards] * len(STAGES)
    order = {(kind, st, sh): n for n, (kind, st, sh) in enumerate(rec.events)}
    assert order[("end", "deleak.text", shards[0])] < order[("start", "summary", shards[2])]
    closed_at = done[0][1]
    assert done[0][0] == "closed" and all(t >= closed_at for _, t in done[1:]) and len(done) == 1 + len(STAGES)


def test_a_feed_closed_with_an_error_raises_it_after_the_running_pairs():
    rec = Recorder(workers=2, seconds=0.05)
    feed = ShardFeed()
    feed.put("part-00000.parquet")
    feed.close(RuntimeError("ingest failed on a disk error"))
    with pytest.raises(RuntimeError, match="disk error"):
        ShardPipeline(STAGES, [], 2).run(check=lambda st, sh: None,
                                         submit=lambda st, sh: rec.pool.submit(rec.work, st, sh),
                                         result=lambda f: f.result(), feed=feed)
    assert rec.running == 0


def test_a_feed_closed_after_every_pair_finished_still_reports_each_stage():
    """Ingest's last shard can be fully processed before ingest closes the feed (a small input):
    the close then arrives while nothing runs, and every stage must still be reported done."""
    rec = Recorder(workers=2, seconds=0.01)
    feed, done = ShardFeed(), []
    feed.put("part-00000.parquet")

    def close_after_the_last_pair(stage, shard, outcome):
        if stage.name == STAGES[-1].name:
            feed.close()

    outcomes = ShardPipeline(STAGES, [], 2).run(
        check=lambda st, sh: None, submit=lambda st, sh: rec.pool.submit(rec.work, st, sh),
        result=lambda f: f.result(), feed=feed, on_outcome=close_after_the_last_pair,
        on_stage_done=lambda i, outs: done.append(i))
    assert sorted(done) == list(range(len(STAGES)))
    assert all(len(per_stage) == 1 for per_stage in outcomes)
