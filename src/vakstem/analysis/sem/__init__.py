"""Vakstem's structural equation modelling engine: lavaan model syntax, ML/MLR/FIML estimation,
fit measures and standardised solutions on numpy/scipy, with lavaan's names for every number.

    from vakstem.analysis.sem import fit, lrt
    result = fit("visual =~ x1 + x2 + x3", data, estimator="MLR")
    result.parameters      # lavaan's parameterEstimates columns, plus std.lv and std.all
    result.fit_measures    # lavaan's fitMeasures names
    standardized_intervals(result)            # delta-method intervals of std.all
    bootstrap_intervals(result, 1000, seed=1, processes=2)  # percentile intervals
"""

from vakstem.analysis.sem.api import LAVAAN_COMPAT, FitResult, fit, lrt
from vakstem.analysis.sem.bootstrap import (
    BootstrapDraws,
    bootstrap_draws,
    bootstrap_intervals,
    default_processes,
    standardized_intervals,
)
from vakstem.analysis.sem.errors import (
    ConvergenceError,
    DataError,
    ModelSpecificationError,
    ModelSyntaxError,
    SemError,
)

__all__ = [
    "LAVAAN_COMPAT",
    "BootstrapDraws",
    "ConvergenceError",
    "DataError",
    "FitResult",
    "ModelSpecificationError",
    "ModelSyntaxError",
    "SemError",
    "bootstrap_draws",
    "bootstrap_intervals",
    "default_processes",
    "fit",
    "lrt",
    "standardized_intervals",
]
