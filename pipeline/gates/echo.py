"""Echo gate: a row whose question, answer, context or options repeat the prompt or schema text the
model was given ("2-3 sentences of knowledge needed to read", "empty list if none", "{") is not
an answer; see pipeline.echo for what counts as an echo."""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar

from pipeline.echo import EchoBank
from pipeline.gates.base import Flag, RowGate
from schemas import Method, QARow, RejectReason


MEASURED = re.compile(r"\b\d+ ?x ?\d+ pixels\b|\baspect ratio \d|\bedge density\b|\btext[- ]likeness\b", re.I)


class EchoGate(RowGate):
    name: ClassVar[str] = "echo"

    def __init__(self, prompts_dir: Path | None = None) -> None:
        self.bank = EchoBank.from_prompts(prompts_dir)

    def check(self, row: QARow) -> Flag | None:
        fields = [("question", row.question), ("answer", row.answer)]
        rewritten = row.deleak_provenance is not None and row.deleak_provenance.method is not Method.RULE
        if row.context != row.context_original or rewritten:
            fields.append(("context", row.context))  # a model rewrote it; a copied caption cannot echo
        for name, text in fields:
            echo = self.bank.echoes(text)
            if echo:
                return Flag(RejectReason.PROMPT_ECHO, f"the {name} echoes {echo}")
        if m := MEASURED.search(row.answer):  # perception facts are prompt input, never an answer about content
            return Flag(RejectReason.PROMPT_ECHO, f"the answer repeats the measured image facts ({m.group(0)!r})")
        return None
