"""XLSForm workbooks on the console's questionnaire upload: an `.xlsx` is imported with
`vakstem.instrument.xlsform.read_xlsform` and turned into the study file (YAML) that the upload
page then checks, compares and publishes exactly as an uploaded YAML file.

The form's own id (`form_id`) is replaced by the console study's id: the upload is a new version
of the study whose page it is on, whatever the spreadsheet calls itself.
"""

from __future__ import annotations

from vakstem.instrument.dump import dump_study_yaml
from vakstem.instrument.xlsform import read_xlsform

#: Every .xlsx file is a ZIP archive.
_ZIP_MAGIC = b"PK\x03\x04"


def is_xlsform(filename: str | None, raw: bytes) -> bool:
    return (filename or "").lower().endswith((".xlsx", ".xlsm")) or raw.startswith(_ZIP_MAGIC)


def xlsform_to_yaml(
    raw: bytes, filename: str | None, study_id: str, *, skip_unsupported: bool
) -> tuple[str | None, list[str]]:
    """The study file text of the workbook, or None and every problem, item by item."""
    name = filename or "form.xlsx"
    result = read_xlsform(raw, filename=name, skip_unsupported=skip_unsupported)
    problems = [str(p) for p in result.problems]
    if not result.refused and result.study is not None:
        study = result.study.model_copy(update={"id": study_id})
        return dump_study_yaml(study), []
    if result.report.unsupported and not result.report.skipped:
        problems += [f"{name}: {f.where()}: not supported: {f}" for f in result.report.unsupported]
        problems.append(
            f"{name}: tick 'leave out unsupported features' to import the form without them"
        )
    return None, problems or [f"{name}: the form could not be read"]
