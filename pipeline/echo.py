"""Does a model's text repeat the prompt or schema it was given instead of answering?

The bank holds what every model saw besides the figure's own text: the fixed wording of each
template under prompts/ (system and user text with the {{ variables }} and {% tags %} cut out, so
no n-gram spans a figure's caption) and the field names and descriptions of each template's
output model (the JSON schema sent as response_format). Example lists ("e.g. MRI, histology, bar
chart") are left out: a modality called "MRI" is a real value, not an echo.

`EchoBank.echoes(text)` names the echo, or None, when the text is
  - only JSON/punctuation ("{", "]["), or a schema field name ("key_findings");
  - three or more words that run unbroken in the template or schema text ("empty list if none",
    "2-3 sentences of knowledge needed to read"), or that hold a whole such phrase of 4+ words (not one
    a real question may use, like "what the image shows");
  - longer text of which half the 4-word runs, or any 5-word run, come from that text.
Used by the quality gate on QA rows and by stages 1-3, which blank echoed fields.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import yaml

from pipeline.prompts import default_prompts_dir

WORD = re.compile(r"[a-z0-9]+")
JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.S)
EXAMPLES = re.compile(r"\be\.g\.[^)\n]*")
QUESTION_WORDS = {"what", "which", "where", "how", "is"}  # "what the image shows" is also a fair question
BREAKS = re.compile(r"[\n:;,()|]+")  # fragment ends: a run never spans a line, a label or a variable


def words(text: str) -> list[str]:
    return WORD.findall(text.lower())


def _schema_texts(schema: dict) -> tuple[list[str], set[str]]:
    texts, names = [], set()

    def walk(node) -> None:
        if isinstance(node, dict):
            for key, value in (node.get("properties") or {}).items():
                names.add(key.lower())
                walk(value)
            if isinstance(node.get("description"), str):
                texts.append(node["description"])
            for key in ("items", "$defs", "anyOf"):
                if key in node:
                    walk(node[key])
            for value in node.values() if "$defs" not in node else node["$defs"].values():
                if isinstance(value, dict) and "properties" in value:
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return texts, names


class EchoBank:
    def __init__(self, fragments: list[str], names: set[str]) -> None:
        self.names = names
        self.runs: list[list[str]] = [w for f in fragments if (w := words(f))]
        self.joined = [" " + " ".join(r) + " " for r in self.runs]
        self.grams4 = {tuple(r[i : i + 4]) for r in self.runs for i in range(len(r) - 3)}
        self.grams5 = {tuple(r[i : i + 5]) for r in self.runs for i in range(len(r) - 4)}

    @classmethod
    def from_prompts(cls, prompts_dir: Path | None = None) -> EchoBank:
        return _bank(str(Path(prompts_dir or default_prompts_dir()).resolve()))

    def echoes(self, text: str | None) -> str | None:
        """What the text echoes (a short quote), or None when it reads as the model's own words."""
        raw = (text or "").strip()
        if not raw:
            return None
        found = words(raw)
        if not found:
            return f"only punctuation {raw[:20]!r}"
        if "_" in raw and raw.lower().strip(" .\"'") in self.names:  # "key_findings"; "anatomy" may be real
            return f"the schema field name {raw!r}"
        phrase = " " + " ".join(found) + " "
        if len(found) >= 3 and any(phrase in j for j in self.joined):
            return f"the prompt text {' '.join(found)!r}"
        inside = next((" ".join(r) for r, j in zip(self.runs, self.joined, strict=True)
                       if len(r) >= 4 and r[0] not in QUESTION_WORDS and j in phrase), None)
        if inside:  # a whole template phrase inside the text ("... empty list if none")
            return f"the prompt text {inside!r}"
        grams = [tuple(found[i : i + 4]) for i in range(len(found) - 3)]
        if grams and sum(g in self.grams4 for g in grams) / len(grams) >= 0.5:
            return f"prompt wording in {' '.join(found[:12])!r}"
        for i in range(len(found) - 4):
            if tuple(found[i : i + 5]) in self.grams5:
                return f"the prompt text {' '.join(found[i : i + 5])!r}"
        return None


@lru_cache(maxsize=8)
def _bank(prompts_dir: str) -> EchoBank:
    from pipeline.prompts import load_template

    fragments: list[str] = []
    names: set[str] = set()
    for path in sorted(Path(prompts_dir).glob("*.yaml")):
        spec = yaml.safe_load(path.read_text()) or {}
        for key in ("system", "user"):
            text = EXAMPLES.sub(" | ", JINJA.sub(" | ", str(spec.get(key) or "")))
            fragments.extend(BREAKS.split(text))
        try:
            model = load_template(path.stem, Path(prompts_dir)).output_class()
        except Exception:  # a template whose model cannot be imported still lends its wording
            model = None
        if model is not None:
            texts, fields = _schema_texts(model.model_json_schema())
            fragments.extend(BREAKS.split(EXAMPLES.sub(" | ", " | ".join(texts))))
            names |= fields
    return EchoBank(fragments, names)
