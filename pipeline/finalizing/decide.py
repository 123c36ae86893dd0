"""The global gates decided on compact keys (pipeline.finalizing.keys), with the decisions of
DedupGate.apply and MCQBalanceGate.apply on the full rows (tests/exports/test_finalize_stream.py
checks that they agree on a real build).

Dedup within a task only ever compares rows of the same (task, image set) group, visited in qa_id
order, so each group is decided on its own with its own band index; a pair is a candidate when one
of the LSH bands (datasketch's b x r for the threshold) is equal, as MinHashLSH.query finds them
(compared by 64-bit hash here), and the signatures of candidates are read back to score them.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from pipeline.finalizing.keys import RowKeys
from pipeline.gates.dedup import DedupGate
from pipeline.gates.mcq_balance import MCQBalanceGate
from schemas import Reject, RejectReason


def _within_tasks(keys: RowKeys, alive: Iterable[int], gate: DedupGate) -> dict[int, Reject]:
    threshold, num_perm = gate.config.threshold, gate.config.num_perm
    groups: dict[tuple[int, int], list[int]] = {}
    for i in sorted(alive, key=keys.qa_ids.__getitem__):
        groups.setdefault((keys.task[i], keys.images[i]), []).append(i)
    dropped: dict[int, Reject] = {}
    for members in groups.values():
        if len(members) < 2:
            continue
        tables: list[dict[int, list[int]]] = [{} for _ in keys.bands]
        for i in members:
            bands = keys.band_keys(i)
            candidates = sorted({j for table, b in zip(tables, bands, strict=True) for j in table.get(b, ())},
                                key=keys.qa_ids.__getitem__)
            twin, score = None, 0.0
            if candidates:
                sig = keys.signature(i)
                for j in candidates:
                    score = float(np.count_nonzero(sig == keys.signature(j))) / float(num_perm)
                    if score >= threshold:
                        twin = j
                        break
            if twin is not None:
                dropped[i] = gate.reject(keys.row(i), RejectReason.NEAR_DUPLICATE,
                                         f"near-duplicate of {keys.qa_ids[twin]} (Jaccard ~{score:.2f})")
                continue
            for table, b in zip(tables, bands, strict=True):
                table.setdefault(b, []).append(i)
    return dict(sorted(dropped.items(), key=lambda kv: keys.qa_ids[kv[0]]))


def _across_tasks(keys: RowKeys, alive: list[int], gate: DedupGate) -> dict[int, Reject]:
    by_figure: dict[int, list[int]] = {}
    for i in alive:
        by_figure.setdefault(keys.figure[i], []).append(i)
    dropped: dict[int, Reject] = {}
    for group in by_figure.values():
        if len({keys.task[i] for i in group}) < 2:
            continue
        ordered = sorted(group, key=lambda i: (-keys.n_images[i], keys.qa_ids[i]))
        sets = {i: keys.shingle_set(i) for i in ordered}
        for n, i in enumerate(ordered):
            a = sets[i]
            for j in ordered[:n]:
                if keys.task[j] == keys.task[i] or j in dropped:
                    continue
                b = sets[j]
                common = len(np.intersect1d(a, b, assume_unique=True))
                union = len(a) + len(b) - common
                score = common / union if union else 0.0
                if score >= gate.config.threshold:
                    dropped[i] = gate.reject(keys.row(i), RejectReason.NEAR_DUPLICATE,
                                             f"near-duplicate of {keys.qa_ids[j]} in task {keys.task_of(j)} (Jaccard {score:.2f})")
                    break
    return dropped


def _ambiguous_stems(keys: RowKeys, alive: list[int], gate: DedupGate) -> dict[int, Reject]:
    groups: dict[int, list[int]] = {}
    for i in alive:
        if keys.letter[i] >= 0:
            groups.setdefault(keys.stem[i], []).append(i)
    dropped: dict[int, Reject] = {}
    for group in groups.values():
        if len(group) > 1 and len({keys.target[i] for i in group}) > 1:
            for i in group:
                dropped[i] = gate.reject(
                    keys.row(i), RejectReason.NEAR_DUPLICATE,
                    f"the same selection stem is asked {len(group)} times in this figure with different correct images")
    return dropped


def decide_dedup(keys: RowKeys, gate: DedupGate) -> dict[int, Reject]:
    """Row index -> its dedup Reject, in the order DedupGate.apply lists them."""
    alive = range(len(keys))
    within = _within_tasks(keys, alive, gate)
    alive = [i for i in alive if i not in within]
    across = _across_tasks(keys, alive, gate)
    alive = [i for i in alive if i not in across]
    return {**within, **across, **_ambiguous_stems(keys, alive, gate)}


def decide_mcq(keys: RowKeys, alive: list[int], gate: MCQBalanceGate) -> tuple[dict[str, str], dict[int, Reject]]:
    """(qa_id -> the letter its correct option moves to, row index -> Reject in drop mode)."""
    groups: dict[tuple[str, int], list[int]] = {}
    for i in alive:
        if keys.letter[i] >= 0:
            groups.setdefault((keys.task_of(i), keys.n_options[i]), []).append(i)
    moves: dict[str, str] = {}
    dropped: dict[int, Reject] = {}
    index = {keys.qa_ids[i]: i for members in groups.values() for i in members}
    for (_task, k), members in sorted(groups.items()):
        _kept, moved, rejects = gate.plan([keys.row(i) for i in members], k)
        moves.update((row.qa_id, letter) for row, letter in moved)
        dropped.update((index[r.item], r) for r in rejects)
    return moves, dropped
