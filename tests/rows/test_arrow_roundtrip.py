"""Row models round-trip through Parquet with the derived schema; version mismatches are refused."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.io.parquet import SchemaVersionMismatch, read_rows, write_rows
from schemas import (
    LabelSource,
    Box,
    Figure,
    Method,
    Panel,
    PanelSource,
    Provenance,
    QARow,
    Reject,
    RejectReason,
    SourceFormat,
    SubCaption,
    Turn,
    arrow_schema,
)
from schemas.arrow import METADATA_VERSION_KEY, SCHEMA_VERSION


def _figure() -> Figure:
    box = Box(x0=0, y0=0, x1=10, y1=20)
    return Figure(
        figure_id="PMC1/f1",
        article_id="PMC1",
        label="Figure 1",
        caption="(A) left. (B) right.",
        sub_captions=[SubCaption(label="A", text="left."), SubCaption(label="B", text="right.")],
        mentions=["As Figure 1 shows ..."],
        image_path="/x/f1.png",
        image_sha256="ab" * 32,
        width=10,
        height=20,
        panels=[Panel(label=k, box=box, box_norm=Box(x0=0, y0=0, x1=1, y1=1), confidence=0.9,
                      source=PanelSource.DETECTED, method="printed-labels", printed_label=k.lower(),
                      label_confidence=0.95, label_source=LabelSource.PRINTED) for k in "AB"],
        source_format=SourceFormat.JATS,
        source_path="/x/a.xml",
    )


def test_figure_roundtrip(tmp_path):
    fig = _figure()
    path = write_rows(tmp_path / "figures" / "part-00000.parquet", [fig], Figure)
    (back,) = read_rows(path, Figure)
    assert back == fig
    assert back.sub_caption("B") == "right."  # paired by the printed letter "b", case-insensitively
    assert back.panels[1].label_source is LabelSource.PRINTED
    meta = pq.read_schema(path).metadata
    assert meta[METADATA_VERSION_KEY] == SCHEMA_VERSION.encode()


def test_qa_row_uses_from_alias(tmp_path):
    row = QARow(
        qa_id="text_qa/PMC1/f1/0", task="text_qa", figure_id="PMC1/f1", article_id="PMC1",
        conversation=[Turn(speaker="human", value="Q?"), Turn.model_validate({"from": "gpt", "value": "A"})],
        question="Q?", answer="A", provenance=Provenance(method=Method.RULE),
    )
    schema = arrow_schema(QARow)
    assert schema.field("conversation").type.value_type.names == ["from", "value"]
    path = write_rows(tmp_path / "part-00000.parquet", [row], QARow)
    assert pq.read_table(path).column("conversation").to_pylist()[0][1]["from"] == "gpt"
    assert read_rows(path, QARow) == [row]


def test_nullable_follows_optional():
    schema = arrow_schema(Figure)
    assert schema.field("image_path").nullable
    assert not schema.field("caption").nullable
    assert schema.field("panels").type.value_type.field("box").type == pa.struct(
        [pa.field(n, pa.float64(), nullable=False) for n in ("x0", "y0", "x1", "y1")]
    )


def test_other_schema_version_refused(tmp_path):
    table = pa.Table.from_pylist(
        [Reject(item="x", stage="ingest", reason=RejectReason.IMAGE_MISSING, detail="d").model_dump(mode="json")],
        schema=arrow_schema(Reject).with_metadata({METADATA_VERSION_KEY: b"0"}),
    )
    path = tmp_path / "part-00000.parquet"
    pq.write_table(table, path)
    with pytest.raises(SchemaVersionMismatch, match="schema version 0"):
        read_rows(path, Reject)


def test_atomic_write_honours_umask(tmp_path):
    import os

    from pipeline.io.atomic import atomic_write_text

    path = atomic_write_text(tmp_path / "x.json", "{}")
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask
    assert not [p for p in tmp_path.iterdir() if p.name != "x.json"]  # no temp file left behind
