"""Step time and memory of the tiny InternVL finetune on this machine (CPU), LoRA and full.

Usage: .venv/bin/python bench/finetune_tiny.py [--steps 20] [--batch-size 4] [--image-size 224]
Prints wall and CPU seconds per optimizer step and the peak RSS for each mode, from one run, plus the
full/LoRA step-time ratio. Wall time depends on other load on the machine; CPU time much less so.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Repo root first: tests/ holds folders (tests/schemas) that would otherwise shadow real packages.
sys.path[:0] = [str(REPO)]
sys.path.append(str(REPO / "tests"))

from finetune_fixtures import write_export  # noqa: E402

from pipeline.train import TrainConfig, train  # noqa: E402
from pipeline.train.tiny import build_tiny, offline_tokenizer  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--image-size", type=int, default=224)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        export = write_export(tmp / "out")
        model = build_tiny(tmp / "tiny", image_size=args.image_size, tokenizer=offline_tokenizer())
        rows = {}
        for mode in ("lora", "full"):
            cfg = TrainConfig(data=export, output_dir=tmp / mode, model=model, mode=mode, max_steps=args.steps,
                              batch_size=args.batch_size, lr=1e-2, progress=False, save_every=10_000)
            cpu0, wall0 = time.process_time(), time.perf_counter()
            result = train(cfg)
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
            rows[mode] = {
                "wall_s_per_step": round(result.seconds_per_step, 3),
                "cpu_s_per_step": round(cpu / args.steps, 3),
                "run_wall_s": round(wall, 1),
                "loss_first_last": [round(result.losses[0], 3), round(result.losses[-1], 3)],
                "trainable_params": result.trainable_params,
                "total_params": result.total_params,
                "peak_rss_mib_so_far": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            }
        print(json.dumps({"steps": args.steps, "batch_size": args.batch_size, "image_size": args.image_size,
                          **rows}, indent=2))
        print(f"full/lora wall step-time ratio: {rows['full']['wall_s_per_step'] / rows['lora']['wall_s_per_step']:.2f}")


if __name__ == "__main__":
    main()
