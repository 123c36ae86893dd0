"""Row models: the single source of truth for every table, its Arrow schema and model output JSON schema."""

from schemas.arrow import SCHEMA_VERSION, arrow_schema
from schemas.figure import (
    Article,
    Box,
    Figure,
    LabelSource,
    PairOutcome,
    Pairing,
    Panel,
    PanelSource,
    SourceFormat,
    SubCaption,
)
from schemas.provenance import Method, Provenance
from schemas.qa import QARow, Turn
from schemas.reject import BlankedField, Reject, RejectReason
from schemas.stages import (
    CaptionSummaryOutput,
    ImageFacts,
    KnowledgeOutput,
    KnowledgeRow,
    KnowledgeTerm,
    PerceptionOutput,
    PerceptionRow,
    PerceptionScope,
    SummaryRow,
)

__all__ = [
    "SCHEMA_VERSION",
    "Article",
    "BlankedField",
    "Box",
    "CaptionSummaryOutput",
    "Figure",
    "ImageFacts",
    "KnowledgeOutput",
    "KnowledgeRow",
    "KnowledgeTerm",
    "LabelSource",
    "Method",
    "PairOutcome",
    "Pairing",
    "Panel",
    "PanelSource",
    "PerceptionOutput",
    "PerceptionRow",
    "PerceptionScope",
    "Provenance",
    "QARow",
    "Reject",
    "RejectReason",
    "SourceFormat",
    "SubCaption",
    "SummaryRow",
    "Turn",
    "arrow_schema",
]
