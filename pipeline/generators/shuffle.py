"""Seeded, balanced placement of the correct MCQ option.

Items are taken in blocks of `n` (in planning order); each block gets its own seeded permutation of
the n slots, so within a shard every letter is correct equally often (up to one partial block)
while the letter of any single item stays unpredictable from its content.
"""

from __future__ import annotations

from pipeline.generators.base import seeded_rng


def balanced_slot(seed: int, scope: str, index: int, n: int) -> int:
    """Slot (0..n-1) of the correct option for the index-th item planned within `scope`."""
    block, pos = divmod(index, n)
    perm = list(range(n))
    seeded_rng(seed, scope, block).shuffle(perm)
    return perm[pos]
