"""A small but complete output folder written with the real row models and Parquet writer.

Images are generated (coloured compound figures with drawn panel contents), so the gallery has
real pixels and real panel boxes to draw.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from PIL import Image, ImageDraw

from pipeline.io.parquet import write_rows
from schemas import (
    SCHEMA_VERSION,
    Article,
    Box,
    Figure,
    KnowledgeRow,
    Method,
    Panel,
    PanelSource,
    PerceptionRow,
    PerceptionScope,
    Provenance,
    QARow,
    Reject,
    RejectReason,
    SourceFormat,
    SummaryRow,
    Turn,
)

SHARD = "part-00000.parquet"
HOSTILE = '<script>alert("x")</script> & <b>bold</b>'  # must show as text, never as markup
COLOURS = ["#c0392b", "#2980b9", "#27ae60", "#8e44ad", "#d35400", "#16a085"]


def _grid_image(path: Path, rows: int, cols: int, size=(600, 420)) -> list[Panel]:
    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    w, h = size
    cw, ch = w // cols, h // rows
    panels = []
    for r in range(rows):
        for c in range(cols):
            i = r * cols + c
            x0, y0, x1, y1 = c * cw + 8, r * ch + 8, (c + 1) * cw - 8, (r + 1) * ch - 8
            draw.rectangle((x0, y0, x1, y1), fill="#f2f2f2", outline="#333")
            draw.ellipse((x0 + 20, y0 + 20, x1 - 20, y1 - 20), fill=COLOURS[i % len(COLOURS)])
            label = chr(ord("A") + i)
            draw.text((x0 + 4, y0 + 2), label, fill="black")
            panels.append(Panel(
                label=label, box=Box(x0=x0, y0=y0, x1=x1, y1=y1),
                box_norm=Box(x0=x0 / w, y0=y0 / h, x1=x1 / w, y1=y1 / h),
                confidence=0.9, source=PanelSource.DETECTED, method="xy-cut",
            ))
    img.save(path)
    return panels


def _prov(method=Method.TEXT_MODEL, cache_hit=False, template="qa_text") -> Provenance:
    return Provenance(method=method, model_id="HuggingFaceTB/SmolLM2-135M-Instruct", backend="embedded",
                      template_name=template, template_version="3", request_hash="ab12", cache_hit=cache_hit)


def _qa(task, fig, n, question, answer, *, context="", options=(), letter=None, panels=(), boxes=(),
        relation=None, leak=(None, None), split=None, image_paths=None, method=Method.TEXT_MODEL,
        cache_hit=False) -> QARow:
    return QARow(
        qa_id=f"{task}/{fig.figure_id}/{n}", task=task, figure_id=fig.figure_id, article_id=fig.article_id,
        image_paths=image_paths if image_paths is not None else [fig.image_path],
        conversation=[Turn(speaker="human", value="<image>\n" + question), Turn(speaker="gpt", value=answer)],
        context=context, question=question, answer=answer, options=list(options), answer_letter=letter,
        panel_labels=list(panels), boxes=list(boxes), relation=relation,
        context_original=context if leak[0] is not None else None,
        leakage_before=leak[0], leakage_after=leak[1], split=split,
        provenance=_prov(method, cache_hit, f"qa_{task}"),
        deleak_provenance=_prov(Method.TEXT_MODEL, True, "deleak") if leak[1] is not None else None,
    )


def write_marker(out: Path) -> None:
    (out / "_pmc_instruct.json").write_text(json.dumps({"schema_version": SCHEMA_VERSION, "created_by": "test"}))


def build_dataset(out: Path, *, stages: int = 6) -> Path:
    """Write an output folder; `stages` limits how far it goes (1: ingest + summaries only, 6: all)."""
    out.mkdir(parents=True, exist_ok=True)
    write_marker(out)
    src = out.parent / f"{out.name}-images"
    src.mkdir(exist_ok=True)
    specs = [("PMC1", "f1", 2, 2), ("PMC1", "f2", 1, 3), ("PMC2", "f1", 1, 1), ("PMC3", "f1", 2, 3)]
    figures = []
    for art, fid, rows, cols in specs:
        path = src / f"{art}-{fid}.png"
        panels = _grid_image(path, rows, cols)
        if len(panels) == 1:
            panels[0] = panels[0].model_copy(update={"source": PanelSource.WHOLE, "method": "whole-image"})
        figures.append(Figure(
            figure_id=f"{art}/{fid}", article_id=art, label=f"Figure {fid[1:]}",
            caption=f"Caption of {art} {fid}. {HOSTILE}", mentions=["As Fig. 1 shows ..."],
            image_path=str(path), image_sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
            width=600, height=420, panels=panels, source_format=SourceFormat.JATS,
            source_path=str(src / f"{art}.nxml"), article_title=f"Title {art}",
        ))
    figures.append(Figure(figure_id="PMC3/f2", article_id="PMC3", caption="No image shipped", has_image=False,
                          source_format=SourceFormat.JATS, source_path=str(src / "PMC3.nxml")))
    articles = [Article(article_id=a, title=f"Title {a}", source_format=SourceFormat.JATS,
                        source_path=str(src / f"{a}.nxml"), source_sha256="0" * 64,
                        figure_ids=[f.figure_id for f in figures if f.article_id == a], has_images=True)
                for a in ("PMC1", "PMC2", "PMC3")]
    write_rows(out / "articles" / SHARD, articles, Article)
    write_rows(out / "figures" / SHARD, figures, Figure)
    write_rows(out / "rejects" / "ingest" / SHARD, [
        Reject(item=str(src / "PMC9.nxml"), stage="ingest", reason=RejectReason.XML_MALFORMED,
               detail=f"PMC9.nxml: unclosed tag at line 3 {HOSTILE}"),
        Reject(item="PMC3/f3", stage="ingest", reason=RejectReason.IMAGE_MISSING,
               detail="PMC3/f3: graphic f3.jpg not found", article_id="PMC3", figure_id="PMC3/f3"),
    ], Reject)
    modalities = [["MRI", "bar chart"], ["mri ", "Histology"], ["Bar chart"], ["CT", "MRI"]]
    write_rows(out / "summaries" / SHARD, [
        SummaryRow(figure_id=f.figure_id, article_id=f.article_id, summary=f"Summary {HOSTILE}", modalities=m,
                   anatomy=["brain"], key_findings=["finding"], provenance=_prov(template="summary"))
        for f, m in zip(figures, modalities, strict=False)
    ], SummaryRow)
    if stages < 2:
        return out
    write_rows(out / "knowledge" / SHARD, [
        KnowledgeRow(figure_id=f.figure_id, article_id=f.article_id, keywords=["k"], background="b", terms=[],
                     provenance=_prov(template="knowledge")) for f in figures[:4]
    ], KnowledgeRow)
    crop_dir = out / "crops"
    crop_dir.mkdir(exist_ok=True)
    perception, crops = [], {}
    for f in figures[:4]:
        with Image.open(f.image_path) as img:
            for p in f.panels:
                crop = img.crop((int(p.box.x0), int(p.box.y0), int(p.box.x1), int(p.box.y1)))
                crop_path = crop_dir / f"{f.figure_id.replace('/', '_')}_{p.label}.png"
                crop.save(crop_path)
                crops[(f.figure_id, p.label)] = str(crop_path)
                perception.append(PerceptionRow(
                    figure_id=f.figure_id, article_id=f.article_id, scope=PerceptionScope.PANEL,
                    panel_label=p.label, image_path=str(crop_path), description="A coloured disc.",
                    observations=["disc"], provenance=_prov(Method.MEASURED_FACTS, template="perception")))
    write_rows(out / "perception" / SHARD, perception, PerceptionRow)
    if stages < 4:
        return out
    f1, f2, f3, f4 = figures[:4]
    qa = {
        "text_qa": [
            _qa("text_qa", f, 0, f"What does {f.label} show? {HOSTILE}", f"It shows discs {i}.",
                context=f"Paragraph about discs {i} " * 6, leak=(0.6 + 0.1 * i, 0.1 * i))
            for i, f in enumerate([f1, f2, f3])
        ],
        "bbox_qa": [
            _qa("bbox_qa", f1, 0, "Where is panel B relative to panel A?", "Panel B is right of panel A.",
                panels=("A", "B"), boxes=(f1.panels[0].box_norm, f1.panels[1].box_norm), relation="right-of",
                method=Method.GEOMETRY, leak=(0.0, 0.0)),
            _qa("bbox_qa", f4, 0, "Where is panel E relative to panel B?", "Panel E is below panel B.",
                panels=("E", "B"), boxes=(f4.panels[4].box_norm, f4.panels[1].box_norm), relation="below",
                method=Method.GEOMETRY, leak=(0.0, 0.0)),
        ],
        "mcq_selection": [
            _qa("mcq_selection", f1, 0, "Which panel shows a green disc?", "C", options=["C", "A", "B", "D"],
                letter="A", panels=("C",), leak=(0.4, 0.2), method=Method.VISION_MODEL, cache_hit=True),
            # image choice, as the real generator writes it: one option per panel crop
            _qa("mcq_selection", f2, 0, "Which image shows a blue disc?", "B. Image-2",
                options=["Image-1", "Image-2", "Image-3"], letter="B", panels=("B",), leak=(0.4, 0.2),
                image_paths=[crops[(f2.figure_id, x)] for x in "ABC"], method=Method.RULE),
            _qa("mcq_selection", f4, 0, "Which panel shows a green disc?", "C", options=["C", "D", "E", "F"],
                letter="A", leak=(0.4, 0.2), method=Method.VISION_MODEL, cache_hit=True),
        ],
    }
    for task, rows in qa.items():
        write_rows(out / "qa" / task / SHARD, rows, QARow)
    write_rows(out / "rejects" / "qa.bbox_qa" / SHARD, [
        Reject(item="PMC2/f1", stage="qa.bbox_qa", reason=RejectReason.NO_PANELS,
               detail="PMC2/f1 has 1 panel; bbox QA needs 2", figure_id="PMC2/f1"),
    ], Reject)
    if stages < 5:
        return out
    for task, rows in qa.items():
        write_rows(out / "deleaked" / task / SHARD, rows, QARow)
    if stages < 6:
        return out
    dropped = qa["text_qa"][2]
    write_rows(out / "rejects" / "gate.dedup" / SHARD, [
        Reject(item=dropped.qa_id, stage="gate.dedup", reason=RejectReason.NEAR_DUPLICATE,
               detail=f"{dropped.qa_id} duplicates text_qa/PMC1/f1/0"),
    ], Reject)
    for task, rows in qa.items():
        final = [r.model_copy(update={"split": "eval" if r.article_id == "PMC3" else "train"})
                 for r in rows if r is not dropped]
        write_rows(out / "final" / task / SHARD, final, QARow)
    return out
