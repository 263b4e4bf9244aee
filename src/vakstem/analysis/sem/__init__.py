"""Vakstem's structural equation modelling engine: lavaan model syntax, ML/MLR/FIML estimation,
fit measures and standardised solutions on numpy/scipy, with lavaan's names for every number.

    from vakstem.analysis.sem import fit, lrt
    result = fit("visual =~ x1 + x2 + x3", data, estimator="MLR")
    result.parameters      # lavaan's parameterEstimates columns, plus std.lv and std.all
    result.fit_measures    # lavaan's fitMeasures names
"""

from vakstem.analysis.sem.api import LAVAAN_COMPAT, FitResult, fit, lrt
from vakstem.analysis.sem.errors import (
    ConvergenceError,
    DataError,
    ModelSpecificationError,
    ModelSyntaxError,
    SemError,
)

__all__ = [
    "LAVAAN_COMPAT",
    "ConvergenceError",
    "DataError",
    "FitResult",
    "ModelSpecificationError",
    "ModelSyntaxError",
    "SemError",
    "fit",
    "lrt",
]
