"""Quality gates run over the whole dataset by pipeline.finalize, in this order."""

from pipeline.gates.answer import AnswerConfig, AnswerGate
from pipeline.gates.base import Gate
from pipeline.gates.dedup import DedupConfig, DedupGate
from pipeline.gates.geometry import GeometryGate
from pipeline.gates.mcq_balance import MCQBalanceConfig, MCQBalanceGate
from pipeline.gates.schema import SchemaGate
from pipeline.gates.split import SplitConfig, SplitGate, article_split

__all__ = [
    "AnswerConfig", "AnswerGate", "DedupConfig", "DedupGate", "Gate", "GeometryGate", "MCQBalanceConfig",
    "MCQBalanceGate", "SchemaGate", "SplitConfig", "SplitGate", "article_split",
]
