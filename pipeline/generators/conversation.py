"""Render a QA row's conversation from its fields, so later steps can change a field and re-render.

One `<image>` placeholder per image: a single image is introduced as "<image>", several as
"Image-1: <image>", "Image-2: <image>", ... (InternVL's multi-image convention).
"""

from __future__ import annotations

import string

from schemas import QARow, Turn

LETTERS = string.ascii_uppercase
PLACEHOLDER = "<image>"


def strip_placeholders(text: str) -> str:
    """Model or caption text must not add <image> placeholders: the count has to equal the images."""
    return text.replace(PLACEHOLDER, "image")


def image_lines(n_images: int) -> str:
    if n_images == 0:
        return ""
    if n_images == 1:
        return "<image>\n"
    return "".join(f"Image-{i}: <image>\n" for i in range(1, n_images + 1))


def options_block(options: list[str]) -> str:
    return "\n".join(f"{LETTERS[i]}. {opt}" for i, opt in enumerate(options))


def mcq_answer(letter: str, options: list[str]) -> str:
    return f"{letter}. {options[LETTERS.index(letter)]}"


def human_text(question: str, n_images: int, context: str = "", options: list[str] | None = None) -> str:
    parts = [image_lines(n_images).rstrip("\n")] if n_images else []
    if context:
        parts.append(f"Context: {context}")
    parts.append(question)
    if options:
        parts.append(options_block(options))
        parts.append("Answer with the option's letter.")
    return "\n".join(parts)


def conversation_for(row: QARow) -> list[Turn]:
    human = human_text(strip_placeholders(row.question), len(row.image_paths), strip_placeholders(row.context), row.options)
    return [Turn(speaker="human", value=human), Turn(speaker="gpt", value=row.answer)]


def rerender(row: QARow, **changes) -> QARow:
    """A copy of `row` with `changes` applied and the conversation rebuilt from the new fields."""
    new = row.model_copy(update=changes)
    return new.model_copy(update={"conversation": conversation_for(new)})
