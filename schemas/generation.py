"""Structured-output contracts for the QA generators and the de-leak rewrite (what a model fills)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class QAPairOutput(BaseModel):
    question: str = Field(description="one question, ending with a question mark")
    answer: str = Field(description="a short, correct answer to the question")


class QuestionOutput(BaseModel):
    question: str = Field(description="one question, ending with a question mark")


class PanelTargetOutput(BaseModel):
    description: str = Field(description="a short phrase naming what the panel shows, without its letter")


class DeleakOutput(BaseModel):
    context: str = Field(description="the rewritten context: useful background that does not state the answer")


class RowJudgeOutput(BaseModel):
    """What the optional judge gate asks a model about one generated row."""

    faithfulness: int = Field(ge=1, le=5, description="1 = the answer contradicts or invents beyond the context, 5 = fully supported")
    answerability: int = Field(ge=1, le=5, description="1 = the question cannot be answered from what is shown, 5 = clearly answerable")
    reason: str = Field("", max_length=300, description="one short sentence")
