"""The dataset card (README.md) of the Hugging Face export: YAML front matter the Hub and
`datasets.load_dataset` read (license, task categories, size category, one config per task with
its train/eval files), then a short description of contents, licenses, models and how it was built."""

from __future__ import annotations

from collections import Counter
from importlib.metadata import PackageNotFoundError, version

import yaml

from pipeline.exports.licenses import HF_IDS

TASK_TEXT = {
    "text_qa": "questions answered from the caption and citing text",
    "bbox_qa": "where one panel lies relative to another (answers computed from panel boxes)",
    "single_panel_qa": "a question about one cropped panel",
    "multi_panel_qa": "a question comparing several cropped panels (multi-image)",
    "mcq_selection": "multiple choice: which panel matches a description",
    "compound_qa": "a question about the whole compound figure",
}


def _size_category(n: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if n < limit:
            return name
    return "1M<n<10M"


def _package_version() -> str:
    try:
        return version("pmc-instruct")
    except PackageNotFoundError:
        return "unknown"


def dataset_card(configs: dict[str, dict[str, int]], licenses: Counter, models: Counter, allow: list[str] | None,
                 skipped: Counter) -> str:
    total = sum(n for splits in configs.values() for n in splits.values())
    codes = {c for c in licenses if licenses[c]}
    front: dict = {}
    if len(codes) == 1 and next(iter(codes)) in HF_IDS:
        front["license"] = HF_IDS[next(iter(codes))]
    else:
        front.update(license="other", license_name="pmc-open-access-mixed",
                     license_link="https://pmc.ncbi.nlm.nih.gov/tools/openftlist/")
    front.update(
        task_categories=["visual-question-answering", "image-text-to-text"],
        language=["en"], tags=["medical", "biology", "pubmed-central", "synthetic", "multimodal"],
        size_categories=[_size_category(total)], pretty_name="pmc-instruct figure instructions",
        configs=[{"config_name": task, **({"default": True} if i == 0 else {}),
                  "data_files": [{"split": split, "path": f"{task}/{split}-*.parquet"} for split in splits]}
                 for i, (task, splits) in enumerate(configs.items())],
    )
    lines = ["---", yaml.safe_dump(front, sort_keys=False).strip(), "---", "",
             "# pmc-instruct figure instructions", "",
             "Multimodal instruction data generated from PubMed Central Open Access figures (images, captions "
             "and the paragraphs citing them) by pmc-instruct "
             f"{_package_version()}. One config per task; `train` and `eval` splits are assigned per article, so "
             "no article has rows in both.", "",
             "```python", "from datasets import load_dataset",
             f'ds = load_dataset("<this folder or repo>", "{next(iter(configs), "text_qa")}")',
             'ds["train"][0]["images"][0]  # a PIL image', "```", "",
             "## Configs and sizes", "", "| config | what | " + " | ".join(("train", "eval")) + " |", "|---|---|---|---|"]
    for task, splits in configs.items():
        lines.append(f"| {task} | {TASK_TEXT.get(task, '')} | {splits.get('train', 0)} | {splits.get('eval', 0)} |")
    lines += ["", "## Columns", "",
              "`id`, `task`, `images` (list of images in `<image>` order; empty for text-only rows), `conversations` "
              "(`from` human/gpt, `value`), `question`, `answer`, `options` and `answer_letter` (multiple choice), "
              "`context`, `panel_labels`, and the source of every row: `pmcid`, `article_id`, `figure_id`, `doi`, "
              "`citation`, `license` (as the article states it) and `license_code` (e.g. CC BY).", "",
              "## Licenses", "",
              "Each row keeps the license of the article its figure comes from; Open Access licenses differ "
              "(some forbid commercial use or derivatives), so check `license_code` before reuse.", ""]
    if allow:
        lines.append(f"Export restricted to: {', '.join(allow)}.")
    lines += [f"- {code}: {n} rows" for code, n in licenses.most_common()]
    if skipped:
        lines += ["", "Rows left out: " + ", ".join(f"{n} {why}" for why, n in skipped.most_common()) + "."]
    lines += ["", "## How it was built", "",
              "Figures, captions and citing paragraphs were read from PMC OA articles; each figure was split into "
              "panels; models wrote caption summaries, background knowledge and visual descriptions; six generators "
              "wrote questions; answers were checked by quality gates (schema, answer length, geometry, "
              "de-duplication, multiple-choice balance) and the context was rewritten so it does not give the answer away.",
              "", "## Models used", ""]
    lines += [f"- {m}: {n} rows" for m, n in models.most_common()] or ["- none recorded (rule-based rows only)"]
    return "\n".join(lines) + "\n"
