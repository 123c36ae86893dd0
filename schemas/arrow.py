"""Derive Arrow schemas from pydantic models so every table's fields are defined in one place.

Mapping: str/Enum/Literal -> string, int -> int64, float -> float64, bool -> bool,
list[X] -> list<X>, nested BaseModel -> struct, Optional[X] -> nullable X.
Dicts are deliberately unsupported: Hugging Face `datasets` reads Arrow maps poorly, so row
models use lists of small keyed structs instead.
"""

from __future__ import annotations

import enum
import types
import typing
from functools import cache

import pyarrow as pa
from pydantic import BaseModel

SCHEMA_VERSION = "2"  # 2: panels carry printed_label, label_confidence, label_source
METADATA_VERSION_KEY = b"pmc_instruct.schema_version"
METADATA_MODEL_KEY = b"pmc_instruct.row_model"


def _unwrap_optional(tp: typing.Any) -> tuple[typing.Any, bool]:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
        raise TypeError(f"unions other than Optional[X] are not mappable to Arrow: {tp}")
    return tp, False


def arrow_type(tp: typing.Any) -> pa.DataType:
    tp, _ = _unwrap_optional(tp)
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return arrow_type(typing.get_args(tp)[0])
    if origin is typing.Literal:
        return pa.string()
    if origin in (list, tuple, typing.Sequence):
        (item,) = typing.get_args(tp)[:1]
        return pa.list_(arrow_type(item))
    if isinstance(tp, type):
        if issubclass(tp, BaseModel):
            return pa.struct(_fields(tp))
        if issubclass(tp, enum.Enum) or issubclass(tp, str):
            return pa.string()
        if issubclass(tp, bool):
            return pa.bool_()
        if issubclass(tp, int):
            return pa.int64()
        if issubclass(tp, float):
            return pa.float64()
    raise TypeError(f"no Arrow mapping for {tp!r}")


def _fields(model: type[BaseModel]) -> list[pa.Field]:
    out = []
    for name, info in model.model_fields.items():
        _, optional = _unwrap_optional(info.annotation)
        out.append(pa.field(info.alias or name, arrow_type(info.annotation), nullable=optional))
    return out


@cache
def arrow_schema(model: type[BaseModel]) -> pa.Schema:
    """The Parquet schema of a row model, with the schema version in its metadata."""
    return pa.schema(
        _fields(model),
        metadata={
            METADATA_VERSION_KEY: SCHEMA_VERSION.encode(),
            METADATA_MODEL_KEY: f"{model.__module__}.{model.__qualname__}".encode(),
        },
    )
