"""The data dictionary of an export: per column its label, type, measure, values and missing codes.

It describes exactly the columns written, so it travels with every file (the csv companion, the
xlsx codebook sheet, the parquet metadata). The study-level codebook with question texts and
conditions is `vakstem.export.codebook`.
"""

from __future__ import annotations

from typing import Any

from vakstem.export.table import Column, Kind, TableLayout

HEADER = ("variable", "label", "type", "measure", "values", "missing_values")


def _join(labels: dict[int, str]) -> str:
    return "; ".join(f"{code} = {label}" for code, label in labels.items())


def dictionary_rows(layout: TableLayout) -> list[tuple[str, str, str, str, str, str]]:
    """One row per column, in table order, with the fields of `HEADER`."""
    missing = layout.codes.labels(layout.language)
    rows = []
    for col in layout.columns:
        values = {k: v for k, v in col.value_labels.items() if k not in missing}
        miss = {k: col.value_labels.get(k, v) for k, v in missing.items()}
        rows.append(
            (
                col.name,
                col.label,
                col.kind.value,
                col.measure.value,
                _join(values),
                _join(miss) if col.has_missing_codes else "",
            )
        )
    return rows


def value_label_rows(layout: TableLayout) -> list[tuple[str, int, str]]:
    """(variable, code, label) for every labelled value, missing codes included."""
    return [(c.name, code, label) for c in layout.columns for code, label in c.value_labels.items()]


def column_metadata(col: Column) -> dict[str, Any]:
    """A column's labels as plain JSON data (for formats that store metadata as JSON)."""
    data: dict[str, Any] = {
        "label": col.label,
        "type": col.kind.value,
        "measure": col.measure.value,
    }
    if col.value_labels:
        data["value_labels"] = {str(k): v for k, v in col.value_labels.items()}
    if col.has_missing_codes:
        data["missing_codes"] = True
    if col.kind is Kind.DATETIME:
        data["timezone"] = "UTC"
    return data
