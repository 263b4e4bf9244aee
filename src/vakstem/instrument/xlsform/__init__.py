"""XLSForm (ODK, KoboToolbox) import and export of Vakstem studies; see `docs/xlsform.md`."""

from vakstem.instrument.xlsform.reader import ImportResult, read_xlsform
from vakstem.instrument.xlsform.unsupported import ImportReport
from vakstem.instrument.xlsform.writer import write_xlsform

__all__ = ["ImportReport", "ImportResult", "read_xlsform", "write_xlsform"]
