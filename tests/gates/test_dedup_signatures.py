"""The dedup gate hashes all rows in one batch; the signatures equal hashing each row on its own."""

from __future__ import annotations

import numpy as np
from datasketch import MinHash
from qa_upstream import make_qa

from pipeline.gates.dedup import DedupConfig, DedupGate, dedup_text, shingles


def test_batched_signatures_equal_per_row_minhash():
    rows = [make_qa(f"text_qa/A{i}/f/0", question=f"How many <ref>cells</ref> were counted in group {i % 5}?",
                    answer=f"About {i * 10} cells per field in group {i % 5}.") for i in range(40)]
    rows.append(make_qa("text_qa/B/f/0", question="Why?", answer="x"))  # fewer words than a shingle
    gate = DedupGate(DedupConfig(num_perm=64))
    for row, batched in zip(rows, gate.signatures(rows), strict=True):
        alone = MinHash(num_perm=64, seed=1)
        for s in shingles(dedup_text(row), gate.config.shingle_words):
            alone.update(s.encode())
        assert np.array_equal(alone.hashvalues, batched.hashvalues)
    kept, rejects = gate.apply(rows + [make_qa("text_qa/C/f/0", question=rows[3].question, answer=rows[3].answer)])
    assert [r.item for r in rejects] == ["text_qa/C/f/0"] and len(kept) == len(rows)
