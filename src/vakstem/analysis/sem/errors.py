"""Exceptions of the SEM engine: every problem a user can cause gets one of these, with a
message that names the model line, variable or group at fault."""

from __future__ import annotations


class SemError(Exception):
    """Base class: anything that went wrong because of the model or the data."""


class ModelSyntaxError(SemError):
    """The model text is not valid lavaan syntax; the message points at line and column."""

    def __init__(self, message: str, line: int, column: int, source_line: str) -> None:
        self.line = line
        self.column = column
        self.source_line = source_line
        self.reason = message
        caret = " " * (column - 1) + "^"
        super().__init__(f"line {line}: {message}\n  {source_line}\n  {caret}")


class ModelSpecificationError(SemError):
    """The model is syntactically fine but cannot be estimated as written (not identified,
    unknown label, a variable that is not in the data, ...)."""


class DataError(SemError):
    """The data cannot be used for this model (empty, non-numeric, too few rows, ...)."""


class ConvergenceError(SemError):
    """The optimiser did not reach a solution, or reached an inadmissible one."""

    def __init__(self, message: str, last: object = None) -> None:
        super().__init__(message)
        self.last = last  # the parameter vector where the optimiser stopped, if any
