"""Quality gates run over the whole dataset by pipeline.finalize, in this order."""

from pipeline.gates.answer import AnswerConfig, AnswerGate
from pipeline.gates.base import Flag, Gate, RowGate
from pipeline.gates.context import ContextGate
from pipeline.gates.dedup import DedupConfig, DedupGate
from pipeline.gates.echo import EchoGate
from pipeline.gates.generic import GenericQuestionGate
from pipeline.gates.geometry import GeometryGate
from pipeline.gates.grounded import GroundedGate
from pipeline.gates.judge import JudgeConfig, JudgeGate
from pipeline.gates.mcq_balance import MCQBalanceConfig, MCQBalanceGate
from pipeline.gates.schema import SchemaGate
from pipeline.gates.split import SplitConfig, SplitGate, article_split
from pipeline.gates.support import load_support
from pipeline.gates.truncated import TruncatedGate

__all__ = [
    "AnswerConfig", "AnswerGate", "ContextGate", "DedupConfig", "DedupGate", "EchoGate", "Flag", "Gate",
    "GenericQuestionGate", "GeometryGate", "GroundedGate", "JudgeConfig", "JudgeGate", "MCQBalanceConfig", "MCQBalanceGate", "RowGate",
    "SchemaGate", "SplitConfig", "SplitGate", "TruncatedGate", "article_split", "load_support",
]
