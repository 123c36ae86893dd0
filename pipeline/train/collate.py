"""Turn Samples into model inputs: chat messages with image blocks, processor-expanded image tokens,
labels only on assistant tokens, right padding for training and left padding for generation."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from PIL import Image

from pipeline.ingest.images import to_rgb
from pipeline.train.data import IMAGE_PLACEHOLDER, Sample

IGNORE = -100
ROLE = {"human": "user", "gpt": "assistant", "system": "system"}


def to_messages(turns: list[tuple[str, str]], images: list[Image.Image]) -> list[dict]:
    """Chat messages whose user content interleaves text and image blocks where `<image>` stood."""
    pending = iter(images)
    messages = []
    for speaker, text in turns:
        blocks: list[dict] = []
        pieces = text.split(IMAGE_PLACEHOLDER)
        for i, piece in enumerate(pieces):
            if i > 0:
                blocks.append({"type": "image", "image": next(pending)})
            if piece:
                blocks.append({"type": "text", "text": piece})
        messages.append({"role": ROLE[speaker], "content": blocks})
    return messages


def open_images(sample: Sample) -> list[Image.Image]:
    out = []
    for path in sample.images:
        with Image.open(path) as im:
            out.append(to_rgb(im))  # 16-bit scaled, not clipped: what the exports wrote
    return out


@dataclass
class Encoder:
    """Encodes one sample with the processor; `image_kwargs` set tiling (crop_to_patches, max_patches)."""

    processor: object
    max_length: int = 2048
    crop_to_patches: bool = True
    max_patches: int | None = None  # None: the image processor's saved max_patches

    @property
    def image_kwargs(self) -> dict:
        kwargs: dict = {"crop_to_patches": self.crop_to_patches}
        if self.max_patches is not None:
            kwargs["max_patches"] = self.max_patches
        return kwargs

    def encode_train(self, sample: Sample) -> dict:
        messages = to_messages(sample.turns, open_images(sample))
        out = self.processor.apply_chat_template(
            messages,
            tokenize=True,
            return_dict=True,
            return_assistant_tokens_mask=True,
            return_tensors="pt",
            processor_kwargs=self.image_kwargs,
        )
        ids = out["input_ids"][0]
        labels = torch.where(out["assistant_masks"][0].bool(), ids, torch.full_like(ids, IGNORE))
        if ids.numel() > self.max_length:
            # Never cut into image tokens: the model needs every tile's tokens for its pixels.
            last_image = (ids == self.processor.image_token_id).nonzero()
            if last_image.numel() and int(last_image.max()) >= self.max_length:
                raise ValueError(f"{sample.id}: image tokens run past max_length={self.max_length}")
            ids, labels = ids[: self.max_length], labels[: self.max_length]
        return {"input_ids": ids, "labels": labels, "pixel_values": out.get("pixel_values")}

    def encode_prompt(self, sample: Sample) -> dict:
        """Everything before the final assistant turn, ending with the assistant header."""
        messages = to_messages(sample.turns[:-1], open_images(sample))
        out = self.processor.apply_chat_template(
            messages,
            tokenize=True,
            return_dict=True,
            add_generation_prompt=True,
            return_tensors="pt",
            processor_kwargs=self.image_kwargs,
        )
        return {"input_ids": out["input_ids"][0], "pixel_values": out.get("pixel_values")}


def pad_batch(items: list[dict], pad_id: int, left: bool = False) -> dict:
    """Stack encoded samples; pixel tiles of the whole batch are concatenated in order."""
    width = max(it["input_ids"].numel() for it in items)
    ids = torch.full((len(items), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(items), width), dtype=torch.long)
    labels = torch.full((len(items), width), IGNORE, dtype=torch.long) if "labels" in items[0] else None
    for row, it in enumerate(items):
        n = it["input_ids"].numel()
        span = slice(width - n, width) if left else slice(0, n)
        ids[row, span] = it["input_ids"]
        mask[row, span] = 1
        if labels is not None:
            labels[row, span] = it["labels"]
    batch = {"input_ids": ids, "attention_mask": mask}
    if labels is not None:
        batch["labels"] = labels
    tiles = [it["pixel_values"] for it in items if it.get("pixel_values") is not None]
    if tiles:
        batch["pixel_values"] = torch.cat(tiles, dim=0)
    return batch
