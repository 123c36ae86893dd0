"""Stage 5: context de-leakage (score, rewrite, redact)."""

from pipeline.deleak.config import DeleakConfig
from pipeline.deleak.leakage import Leakage, LeakageScorer
from pipeline.deleak.redact import redact
from pipeline.deleak.stage import DeleakStage, build_deleak_stages

__all__ = ["DeleakConfig", "DeleakStage", "Leakage", "LeakageScorer", "build_deleak_stages", "redact"]
