"""Checkpoints: trainable weights (adapter or full model), optimizer, scheduler, RNG and step.

A checkpoint folder is written under a temp name and renamed into place, so a crash mid-save
leaves the previous checkpoint as the newest complete one."""

from __future__ import annotations

import json
import random
import re
import shutil
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

CKPT_RE = re.compile(r"^step-(\d{7})$")
STATE_FILE = "trainer_state.json"


@dataclass
class TrainerState:
    global_step: int = 0
    epoch: int = 0
    micro_in_epoch: int = 0  # micro-batches of `epoch` already consumed


def checkpoint_dir(output_dir: Path, step: int) -> Path:
    return Path(output_dir) / "checkpoints" / f"step-{step:07d}"


def list_checkpoints(output_dir: Path) -> list[Path]:
    root = Path(output_dir) / "checkpoints"
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if CKPT_RE.match(p.name) and (p / STATE_FILE).is_file()]
    return sorted(found, key=lambda p: int(CKPT_RE.match(p.name).group(1)))


def latest_checkpoint(output_dir: Path) -> Path | None:
    found = list_checkpoints(output_dir)
    return found[-1] if found else None


def save_checkpoint(output_dir: Path, model, optimizer, scheduler, state: TrainerState, keep: int) -> Path:
    final = checkpoint_dir(output_dir, state.global_step)
    tmp = final.with_name(final.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    model.save_pretrained(tmp / "model")
    torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
    torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
    rng = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
    }
    torch.save(rng, tmp / "rng.pt")
    (tmp / STATE_FILE).write_text(json.dumps(asdict(state), indent=2))
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    for old in list_checkpoints(output_dir)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def load_trainer_state(ckpt: Path) -> TrainerState:
    return TrainerState(**json.loads((Path(ckpt) / STATE_FILE).read_text()))


def restore_optimizer(ckpt: Path, optimizer, scheduler) -> None:
    optimizer.load_state_dict(torch.load(Path(ckpt) / "optimizer.pt", weights_only=False))
    scheduler.load_state_dict(torch.load(Path(ckpt) / "scheduler.pt", weights_only=False))
    # The optimizer comes back with the learning rate the old schedule set; a resumed run may have a
    # new length (max_steps), so set this step's rate from the new schedule.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rates = scheduler.get_lr()
    for group, lr in zip(optimizer.param_groups, rates, strict=True):
        group["lr"] = lr


def restore_rng(ckpt: Path) -> None:
    rng = torch.load(Path(ckpt) / "rng.pt", weights_only=False)
    random.setstate(rng["python"])
    np.random.set_state(rng["numpy"])
    torch.set_rng_state(rng["torch"])
    if rng.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
