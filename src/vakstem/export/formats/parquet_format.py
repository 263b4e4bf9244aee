"""Parquet (for R's arrow and pandas): typed columns written in row groups, labels in metadata.

Missing codes stay as their numbers. The schema metadata key `vakstem` holds JSON with the study,
the label language, the missing codes and every column's label, type and value labels; each
field also carries its own `label` and `value_labels` metadata.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from vakstem.export.dictionary import column_metadata
from vakstem.export.formats import TableData
from vakstem.export.table import Kind, TableLayout, columns_of

_TYPES: dict[Kind, Any] = {
    Kind.STRING: pa.string(),
    Kind.CODE: pa.int32(),
    Kind.INTEGER: pa.int64(),
    Kind.DECIMAL: pa.float64(),
    Kind.DATE: pa.date32(),
    Kind.DATETIME: pa.timestamp("us", tz="UTC"),
}


def arrow_schema(layout: TableLayout) -> Any:
    fields = []
    for col in layout.columns:
        meta = {"label": col.label}
        if col.value_labels:
            meta["value_labels"] = json.dumps(
                {str(k): v for k, v in col.value_labels.items()}, ensure_ascii=False
            )
        fields.append(pa.field(col.name, _TYPES[col.kind], nullable=True, metadata=meta))
    document = {
        "study": layout.study.id,
        "language": layout.language,
        "missing_codes": layout.codes.as_dict(),
        "columns": {c.name: column_metadata(c) for c in layout.columns},
    }
    return pa.schema(fields, metadata={"vakstem": json.dumps(document, ensure_ascii=False)})


class ParquetWriter:
    suffix = ".parquet"
    media_type = "application/vnd.apache.parquet"

    def write(self, data: TableData, path: Path) -> list[Path]:
        schema = arrow_schema(data.layout)
        names = data.layout.names
        types = [field.type for field in schema]
        with pq.ParquetWriter(str(path), schema, compression="zstd") as writer:
            for chunk in data.chunks:
                if not chunk:
                    continue
                columns = [
                    pa.array(cells, type=types[i]) for i, cells in enumerate(columns_of(chunk))
                ]
                writer.write_batch(pa.RecordBatch.from_arrays(columns, names=names))
                data.advance(len(chunk))
        return []


WRITER = ParquetWriter()
