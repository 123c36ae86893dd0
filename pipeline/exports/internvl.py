"""InternVL training export: export/internvl/<task>_<split>.jsonl, images/<sha256>.<ext>, meta.json
(training entries only) and meta_eval.json (the eval split).

Each JSONL line: {"id", "image", "conversations", "width", "height"}. "image" is one path (str) or,
for several images, a list, relative to the meta entry's `root` (the export/internvl folder);
"width"/"height" follow the same shape. Multi-image items also carry "width_list"/"height_list",
the keys InternVL's own multi-image format documents. Text-only items have no image, width or height.
Images are stored once under their content hash.

InternVL trains on every entry of the meta file it is given, so the train and eval entries live in
two files: meta.json holds "<task>_train" entries only (pass it as --meta_path), meta_eval.json
holds "<task>_eval". The split is by article (pipeline.gates.split), so no eval article's rows are
in meta.json. Paths in both are relative to the folder holding them (`root` ".", `annotation`
"<task>_<split>.jsonl"), so the folder can be copied or moved whole. InternVL resolves relative
paths against its working directory: launch it from export/internvl (or give it a copy of the meta
file with `root`/`annotation` made absolute). Our own finetune resolves them against the meta file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path

from pydantic import BaseModel, Field

from pipeline.ingest.images import web_image_bytes
from pipeline.io.atomic import atomic_path, atomic_write_bytes, atomic_write_text
from schemas import QARow, Reject, RejectReason

STAGE = "export"
META_FILES = {"train": "meta.json", "eval": "meta_eval.json"}  # InternVL trains on every entry of --meta_path


class InternVLConfig(BaseModel):
    data_augment: bool = False
    max_dynamic_patch: int = Field(6, ge=1)
    repeat_time: int = Field(1, ge=1)


class ImageStore:
    """Copies each source image once into <root>/images/<sha256>.<ext> and remembers its size."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._seen: dict[str, tuple[str, int, int]] = {}

    def add(self, source: str) -> tuple[str, int, int]:
        if source not in self._seen:
            data, ext, width, height = web_image_bytes(Path(source))  # 16-bit/CMYK/alpha -> 8-bit RGB PNG
            rel = f"images/{hashlib.sha256(data).hexdigest()}.{ext}"
            if not (self.root / rel).exists():
                atomic_write_bytes(self.root / rel, data)
            self._seen[source] = (rel, width, height)
        return self._seen[source]


def record(row: QARow, store: ImageStore) -> dict:
    line: dict = {"id": row.qa_id}
    images = [store.add(p) for p in row.image_paths]
    if len(images) == 1:
        line.update(image=images[0][0], width=images[0][1], height=images[0][2])
    elif images:
        widths, heights = [i[1] for i in images], [i[2] for i in images]
        line.update(image=[i[0] for i in images], width=widths, height=heights, width_list=widths, height_list=heights)
    line["conversations"] = [{"from": t.speaker, "value": t.value} for t in row.conversation]
    return line


class InternVLWriter:
    """Writes the export one task at a time, each task's rows handed over in qa_id order (any
    number of calls to add), so no task's rows need to be held: the two annotation files of the
    task are written as the rows come and moved into place by end_task(); close() writes the meta
    files. Rejects (rows whose images could not be read) come out per task, train before eval."""

    def __init__(self, out_dir: Path, config: InternVLConfig | None = None) -> None:
        self.config = config or InternVLConfig()
        self.root = (Path(out_dir) / "export" / "internvl").resolve()
        self.store = ImageStore(self.root)
        self.metas: dict[str, dict[str, dict]] = {"train": {}, "eval": {}}
        self.rejects: list[Reject] = []
        self._task: str | None = None
        self._stack: contextlib.ExitStack | None = None

    def begin_task(self, task: str) -> None:
        self._task, self._stack = task, contextlib.ExitStack()
        self._files = {split: self._stack.enter_context(atomic_path(self.root / f"{task}_{split}.jsonl"))
                       for split in ("train", "eval")}
        self._handles = {split: self._stack.enter_context(open(path, "w", encoding="utf-8"))
                         for split, path in self._files.items()}
        self._lengths = {"train": 0, "eval": 0}
        self._task_rejects: dict[str, list[Reject]] = {"train": [], "eval": []}

    def add(self, row: QARow) -> None:
        split = row.split or "train"
        try:
            line = json.dumps(record(row, self.store), ensure_ascii=False)
        except (OSError, ValueError) as exc:  # unreadable or vanished image
            self._task_rejects[split].append(Reject(item=row.qa_id, stage=STAGE, reason=RejectReason.IMAGE_MISSING,
                                                    detail=f"{row.qa_id}: image unreadable for export: {exc}",
                                                    article_id=row.article_id, figure_id=row.figure_id))
            return
        self._handles[split].write(line + "\n")
        self._lengths[split] += 1

    def end_task(self) -> None:
        task = self._task
        for handle in self._handles.values():
            handle.close()
        self._stack.close()  # both files are moved into place (fsynced)
        for split in ("train", "eval"):
            self.rejects += self._task_rejects[split]
            annotation = self.root / f"{task}_{split}.jsonl"
            if not self._lengths[split]:
                annotation.unlink(missing_ok=True)  # no stale (or empty) file
                continue
            self.metas[split][f"{task}_{split}"] = {
                "root": ".",
                "annotation": annotation.name,
                "data_augment": self.config.data_augment,
                "max_dynamic_patch": self.config.max_dynamic_patch,
                "repeat_time": self.config.repeat_time,
                "length": self._lengths[split],
            }
        self._task = self._stack = None

    def close(self) -> tuple[dict[str, dict], list[Reject]]:
        for split, name in META_FILES.items():
            atomic_write_text(self.root / name, json.dumps(self.metas[split], indent=2, sort_keys=True))
        return {**self.metas["train"], **self.metas["eval"]}, self.rejects


def export_internvl(
    out_dir: Path, rows_by_task: dict[str, list[QARow]], config: InternVLConfig | None = None
) -> tuple[dict[str, dict], list[Reject]]:
    """Write the export; returns (meta, rejects for rows whose images could not be read)."""
    writer = InternVLWriter(out_dir, config)
    for task in sorted(rows_by_task):
        writer.begin_task(task)
        for row in sorted(rows_by_task[task], key=lambda r: r.qa_id):
            writer.add(row)
        writer.end_task()
    return writer.close()
