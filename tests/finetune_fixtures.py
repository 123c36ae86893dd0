"""Builders shared by tests/train and tests/evaluate: a small InternVL export written in tmp (the
layout the exporter writes) and a tiny model, each built once per session (cached here, so both
folders' conftest fixtures get the same objects).

Set PMC_INSTRUCT_EXPORT=<out>/export/internvl to run the tests on a real export instead."""

from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path

from PIL import Image, ImageDraw

TASKS = ["text_qa", "bbox_qa", "single_panel_qa", "multi_panel_qa", "mcq_selection", "compound_qa"]
COLOURS = {"red": (220, 40, 40), "green": (40, 180, 60), "blue": (40, 70, 220), "yellow": (230, 210, 40)}


def _save_image(images: Path, draw) -> tuple[str, int, int]:
    img = Image.new("RGB", (320, 240), (250, 250, 250))
    draw(ImageDraw.Draw(img))
    raw = img.tobytes()
    name = f"images/{hashlib.sha256(raw).hexdigest()[:16]}.png"
    img.save(images.parent / name)
    return name, img.width, img.height


def _two_panels(colour_a: str, colour_b: str, vertical: bool):
    def draw(d: ImageDraw.ImageDraw) -> None:
        if vertical:
            d.rectangle([100, 10, 220, 110], fill=COLOURS[colour_a])
            d.rectangle([100, 130, 220, 230], fill=COLOURS[colour_b])
        else:
            d.rectangle([10, 60, 150, 180], fill=COLOURS[colour_a])
            d.rectangle([170, 60, 310, 180], fill=COLOURS[colour_b])
        d.text((12, 8), "A", fill=(0, 0, 0))

    return draw


def _items(images: Path) -> dict[str, list[dict]]:
    names = list(COLOURS)
    items: dict[str, list[dict]] = {t: [] for t in TASKS}
    for i in range(4):
        a, b = names[i % 4], names[(i + 1) % 4]
        vertical = i % 2 == 1
        img, w, h = _save_image(images, _two_panels(a, b, vertical))
        items["text_qa"].append({
            "id": f"text_qa/fig{i}/0",
            "conversations": [
                {"from": "human", "value": f"Caption: panel A shows {a} staining. Which stain is in panel A?"},
                {"from": "gpt", "value": f"Panel A shows {a} staining."},
            ],
        })
        rel = "above" if vertical else "left of"
        box = "[[312, 41, 687, 458]]" if vertical else "[[31, 250, 468, 750]]"
        items["bbox_qa"].append({
            "id": f"bbox_qa/fig{i}/0", "image": img, "width": w, "height": h,
            "conversations": [
                {"from": "human", "value": "<image>\nWhere is panel A relative to panel B?"},
                {"from": "gpt", "value": f"<ref>panel A</ref><box>{box}</box> is {rel} panel B."},
            ],
        })
        items["single_panel_qa"].append({
            "id": f"single_panel_qa/fig{i}/0", "image": img, "width": w, "height": h,
            "conversations": [
                {"from": "human", "value": "<image>\nWhat colour is the first panel?"},
                {"from": "gpt", "value": f"The first panel is {a}."},
            ],
        })
        img2, w2, h2 = _save_image(images, _two_panels(b, a, not vertical))
        items["multi_panel_qa"].append({
            "id": f"multi_panel_qa/fig{i}/0", "image": [img, img2], "width": [w, w2], "height": [h, h2],
            "conversations": [
                {"from": "human", "value": "Image-1: <image>\nImage-2: <image>\nDo both images share colours?"},
                {"from": "gpt", "value": f"Yes, both show {a} and {b}."},
            ],
        })
        letters = "ABCD"
        correct = letters[i]
        options = "\n".join(f"{letters[j]}. {names[j]} panel" for j in range(4))
        items["mcq_selection"].append({
            "id": f"mcq_selection/fig{i}/0", "image": img, "width": w, "height": h,
            "conversations": [
                {"from": "human", "value": f"<image>\nWhich panel matches '{names[i]} staining'?\n{options}"},
                {"from": "gpt", "value": f"{correct}. {names[i]} panel"},
            ],
        })
        items["compound_qa"].append({
            "id": f"compound_qa/fig{i}/0", "image": img, "width": w, "height": h,
            "conversations": [
                {"from": "human", "value": "<image>\nHow many panels does this figure have?"},
                {"from": "gpt", "value": "It has two panels."},
                {"from": "human", "value": "What colour is the second one?"},
                {"from": "gpt", "value": f"The second panel is {b}."},
            ],
        })
    return items


def write_export(out: Path) -> Path:
    """Write <out>/export/internvl with one JSONL per task and meta.json; returns the export dir."""
    export = out / "export" / "internvl"
    images = export / "images"
    images.mkdir(parents=True, exist_ok=True)
    meta = {}
    for task, rows in _items(images).items():
        ann = export / f"{task}.jsonl"
        ann.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        meta[task] = {"root": str(export.resolve()), "annotation": str(ann.resolve()), "data_augment": False,
                      "max_dynamic_patch": 6, "repeat_time": 1, "length": len(rows)}
    (export / "meta.json").write_text(json.dumps(meta, indent=2))
    return export


@functools.cache
def fixture_export_dir(base: Path) -> Path:
    return write_export(base / "fixture-out")


def export_dir(base: Path) -> Path:
    """The export the finetune/evaluate tests run on: PMC_INSTRUCT_EXPORT when set, else the fixture."""
    real = os.environ.get("PMC_INSTRUCT_EXPORT")
    return Path(real) if real else fixture_export_dir(base)


@functools.cache
def offline_tokenizer():
    from pipeline.train.tiny import offline_tokenizer as load

    return load()


@functools.cache
def tiny_model_dir(base: Path) -> Path:
    from pipeline.train.tiny import build_tiny

    return build_tiny(base / "tiny-model", tokenizer=offline_tokenizer())
