"""SPSS .sav: variable labels, value labels, user-missing codes, measurement level, widths.

Missing codes are real values in the file declared user-missing, so SPSS shows their labels and
leaves them out of analyses, and `pyreadstat.read_sav(..., user_missing=True)` gets them back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyreadstat

from vakstem.export.formats import TableData
from vakstem.export.formats._frame import gather_frame
from vakstem.export.missing import ExportError, MissingCodes
from vakstem.export.table import Kind


def missing_ranges(codes: MissingCodes) -> list[Any]:
    """SPSS holds at most three single values, or one range plus one single value."""
    values = sorted(codes.all())
    if values[-1] - values[0] == len(values) - 1:
        return [{"lo": float(values[0]), "hi": float(values[-1])}]
    for lone in range(len(values)):
        rest = values[:lone] + values[lone + 1 :]
        if rest[-1] - rest[0] == len(rest) - 1:
            return [{"lo": float(rest[0]), "hi": float(rest[-1])}, float(values[lone])]
    raise ExportError(
        f"SPSS cannot declare the missing codes {values} as missing: it takes one range plus "
        "one single value; declare consecutive codes in analysis.settings.missing_codes"
    )


def _format(kind: Kind, labels: dict[int, str] | None) -> str | None:
    if kind is Kind.CODE:
        digits = max((len(str(k)) for k in labels or {0: ""}), default=1)
        return f"F{max(digits, 2)}.0"
    if kind is Kind.INTEGER:
        return "F8.0"
    return None


class SavWriter:
    suffix = ".sav"
    media_type = "application/x-spss-sav"

    def write(self, data: TableData, path: Path) -> list[Path]:
        layout = data.layout
        frame = gather_frame(data)
        ranges = missing_ranges(layout.codes)
        value_labels = {
            c.name: {float(k): v for k, v in c.value_labels.items()}
            for c in layout.columns
            if c.value_labels
        }
        formats = {}
        for c in layout.columns:
            fmt = _format(c.kind, dict(c.value_labels))
            if fmt:
                formats[c.name] = fmt
        pyreadstat.write_sav(
            frame,
            str(path),
            file_label=layout.study.id,
            column_labels={c.name: c.label[:256] for c in layout.columns},
            variable_value_labels=value_labels,
            missing_ranges={c.name: ranges for c in layout.columns if c.has_missing_codes},
            variable_measure={c.name: c.measure.value for c in layout.columns},
            variable_display_width={c.name: c.width for c in layout.columns},
            variable_format=formats,
        )
        return []


WRITER = SavWriter()
