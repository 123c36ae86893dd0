"""The parts of a streaming finalize (pipeline.finalize.run_finalize): rows go shard by shard through
the per-row gates into a spool, only compact keys per row stay in memory for the global gates
(dedup, MCQ balance, split), and the final tables and the InternVL export are written from the spool.
"""
