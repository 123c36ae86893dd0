"""Load an InternVL model directory (HF transformers-native layout) with its processor, and make it
trainable: LoRA on the language model or full finetune, with optional frozen parts.

torchvision is not usable here, so the processor is assembled from the tokenizer and the PIL image
processor rather than through AutoProcessor (which would also want a video processor and can
silently return only the tokenizer)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch
from transformers import AutoTokenizer, InternVLForConditionalGeneration, InternVLProcessor
from transformers.models.got_ocr2.image_processing_pil_got_ocr2 import GotOcr2ImageProcessorPil

# Chat-ML, which both InternVL3 (Qwen2.5 LLM) and SmolLM2 use. `{% generation %}` marks the spans
# that become training labels; image blocks become the processor's image token, which the processor
# expands to <img> + N context tokens + </img> per tile.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' }}"
    "{% if message['role'] == 'assistant' %}{% generation %}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for block in message['content'] %}{{ block['text'] }}{% endfor %}{% endif %}"
    "{{ '<|im_end|>' }}{% endgeneration %}{{ '\n' }}"
    "{% else %}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for block in message['content'] %}"
    "{% if block['type'] == 'image' %}{{ '<IMG_CONTEXT>' }}{% else %}{{ block['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "{{ '<|im_end|>\n' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

IMAGE_TOKENS = {
    "start_image_token": "<img>",
    "end_image_token": "</img>",
    "context_image_token": "<IMG_CONTEXT>",
    "video_token": "<video>",
}


class ImageOnlyInternVLProcessor(InternVLProcessor):
    """InternVLProcessor without a video processor (that one needs torchvision)."""

    attributes = ["image_processor", "tokenizer"]

    def __init__(self, image_processor=None, tokenizer=None, image_seq_length: int = 256, chat_template=None, **kw):
        kw.pop("video_processor", None)
        super(InternVLProcessor, self).__init__(image_processor, tokenizer, chat_template=chat_template, **kw)
        self.image_seq_length = image_seq_length
        self.start_image_token = tokenizer.start_image_token
        self.end_image_token = tokenizer.end_image_token
        self.start_image_token_id = tokenizer.start_image_token_id
        self.end_image_token_id = tokenizer.end_image_token_id
        self.image_token = tokenizer.context_image_token
        self.video_token = tokenizer.video_token
        self.image_token_id = tokenizer.context_image_token_id
        self.multimodal_pattern = re.compile(
            f"(?P<image>{re.escape(self.image_token)})|(?P<video>{re.escape(self.video_token)})"
        )


def pick_device(requested: str = "auto") -> torch.device:
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)


def pick_dtype(requested: str, device: torch.device) -> torch.dtype:
    """bf16 only where the device supports it (CUDA with bf16); CPU trains in fp32."""
    if requested == "auto":
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    return {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[requested]


def _image_seq_length(model_dir: Path) -> int:
    for name in ("processor_config.json", "preprocessor_config.json"):
        path = model_dir / name
        if path.is_file():
            data = json.loads(path.read_text())
            if "image_seq_length" in data:
                return int(data["image_seq_length"])
    return int(json.loads((model_dir / "config.json").read_text()).get("image_seq_length", 256))


def load_processor(model_dir: Path, max_patches: int | None = None) -> ImageOnlyInternVLProcessor:
    model_dir = Path(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir, extra_special_tokens=IMAGE_TOKENS)
    image_processor = GotOcr2ImageProcessorPil.from_pretrained(model_dir)
    if max_patches is not None:
        image_processor.max_patches = max_patches
    return ImageOnlyInternVLProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        image_seq_length=_image_seq_length(model_dir),
        chat_template=CHAT_TEMPLATE,
    )


def load_model(model_dir: Path, dtype: torch.dtype, device: torch.device) -> InternVLForConditionalGeneration:
    model = InternVLForConditionalGeneration.from_pretrained(Path(model_dir), dtype=dtype)
    return model.to(device)


def set_frozen(model: torch.nn.Module, vision: bool, projector: bool, llm: bool) -> None:
    """Freeze (requires_grad=False) the named parts of an InternVL model (base names, also under PEFT)."""
    parts = {"vision_tower": vision, "multi_modal_projector": projector, "language_model": llm, "lm_head": llm}
    for name, param in model.named_parameters():
        if "lora_" in name:
            continue
        for part, frozen in parts.items():
            if f"{part}." in name or name.startswith(part):
                if frozen:
                    param.requires_grad_(False)
                break


def add_lora(
    model,
    rank: int,
    alpha: int,
    dropout: float,
    target_modules: list[str],
    train_vision: bool = False,
    train_projector: bool = False,
):
    """Wrap the model with LoRA adapters on the language model's projections only. An unfrozen vision
    tower or projector trains fully and is saved with the adapter (peft `modules_to_save`)."""
    from peft import LoraConfig, get_peft_model

    # A plain list of names would also match the vision tower's projections.
    pattern = r".*language_model.*\.(" + "|".join(target_modules) + ")"
    extra = [name for name, on in (("vision_tower", train_vision), ("multi_modal_projector", train_projector)) if on]
    config = LoraConfig(
        r=rank,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=pattern,
        bias="none",
        modules_to_save=extra or None,
    )
    return get_peft_model(model, config)


def count_parameters(model: torch.nn.Module) -> tuple[int, int]:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, total
