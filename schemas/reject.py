"""Rejected items: every dropped item has a stage, a reason from a fixed enum and a readable detail."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field


class RejectReason(StrEnum):
    # ingest
    XML_MALFORMED = "xml-malformed"
    XML_FORBIDDEN = "xml-forbidden"  # entities, DTDs, external references
    XML_WRONG_ROOT = "xml-wrong-root"
    ENCODING = "encoding"
    INPUT_UNREADABLE = "input-unreadable"
    INPUT_INVALID = "input-invalid"  # a record that does not fit its format
    IMAGE_MISSING = "image-missing"
    IMAGE_EMPTY = "image-empty"
    IMAGE_CORRUPT = "image-corrupt"
    IMAGE_TOO_LARGE = "image-too-large"
    IMAGE_UNSUPPORTED = "image-unsupported"
    PATH_OUTSIDE_INPUT = "path-outside-input"
    CAPTION_MISSING = "caption-missing"
    CAPTION_TOO_LONG = "caption-too-long"
    DUPLICATE_ID = "duplicate-id"
    # model stages
    MODEL_ERROR = "model-error"  # endpoint failed after retries
    MODEL_UNPARSEABLE = "model-unparseable"  # output never validated against the schema
    MISSING_INPUT = "missing-input"  # an upstream row this stage needs is absent
    NO_PANELS = "no-panels"  # a panel task on a figure with too few panels
    UNLABELLED_PANEL = "unlabelled-panel"  # a task needs the panel's printed letter and none was read
    LETTERS_DISAGREE = "letters-disagree"  # printed panel letters and caption letters do not match
    # quality gates
    SCHEMA_INVALID = "schema-invalid"
    GEOMETRY_MISMATCH = "geometry-mismatch"
    MCQ_IMBALANCE = "mcq-imbalance"
    ANSWER_EMPTY = "answer-empty"
    ANSWER_LENGTH = "answer-length"
    ANSWER_DEGENERATE = "answer-degenerate"  # looping or repetitive text (small-model failure mode)
    NEAR_DUPLICATE = "near-duplicate"  # within a task, or the same figure's QA in another task
    PROMPT_ECHO = "prompt-echo"  # model text repeats the prompt or schema it was given (also stages 1-3)
    QUESTION_GENERIC = "question-generic"  # a question no row content can answer, or a broken stem
    ANSWER_TRUNCATED = "answer-truncated"  # the model stopped at max_tokens / a length bound
    ANSWER_UNGROUNDED = "answer-ungrounded"  # nothing the row shows supports the answer
    CONTEXT_EMPTY = "context-empty"  # a text-only row whose context is empty or unreadable
    JUDGE_LOW = "judge-low"  # the optional LLM judge scored faithfulness/answerability under threshold
    SPLIT_OVERLAP = "split-overlap"
    # infrastructure
    WRITE_FAILED = "write-failed"
    STAGE_ERROR = "stage-error"  # a bug or unexpected state while handling this item


class Reject(BaseModel):
    item: str = Field(description="what was rejected: a file path, figure id, panel id or QA id")
    stage: str = Field(description="stage that rejected it, e.g. ingest, summary, gate.dedup")
    reason: RejectReason
    detail: str = Field(description="human-readable explanation naming the cause")
    article_id: str | None = None
    figure_id: str | None = None
    raw: str | None = Field(None, description="raw model text or offending snippet, when there is one")


class BlankedField(Reject):
    """A field the model filled with an echo of its prompt, blanked inside a row that was KEPT
    (item `<figure_id>#<field>`). Not a rejected item: stages file these under blanked/<stage>/,
    never rejects/<stage>/, so "rows + rejects == planned items" holds for every stage."""
