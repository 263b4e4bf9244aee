"""The linear latent-variable model behind a population: every latent variable written as a
linear combination of independent sources (exogenous variables, individual covariates and
disturbances), each split into a part shared by an organisation and a part of the individual.

From that one representation come both the draws (`draw.py`) and the true values (`truth.py`),
so the numbers a test compares against are those the data were drawn from.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product
from typing import Any

import numpy as np

from vakstem.simulate.population import PERF, PROF, Population, PopulationError

Array = np.ndarray[Any, np.dtype[np.float64]]


@dataclass(frozen=True)
class Covariate:
    """One column of the covariate vector: a background variable's code (per code step) or
    its membership of one category, centred at its population mean."""

    variable: str
    #: None: the code itself; an int: the dummy of that code.
    code: int | None
    mean: float


@dataclass(frozen=True)
class LatentModel:
    """latent = loadings @ sources; sources independent with the covariances below."""

    names: tuple[str, ...]
    #: Sources: the exogenous variables, the covariates, then one disturbance per endogenous.
    source_names: tuple[str, ...]
    loadings: Array
    #: Covariance of the sources between organisations, within (individual, without the
    #: covariates), and of the covariates (individual).
    between: Array
    within: Array
    covariate_cov: Array
    covariates: tuple[Covariate, ...]
    #: Cells of the covariates' joint distribution: (probability, centred covariate vector).
    cells: tuple[tuple[float, Array], ...]
    #: Coefficients of every path: (outcome, predictor) -> coefficient in latent SD units (a
    #: covariate: per unit of the covariate).
    paths: dict[tuple[str, str], float]
    #: Disturbance variances of the endogenous variables (1 - R^2).
    disturbance: dict[str, float]

    def index(self, name: str) -> int:
        return self.names.index(name)

    def cov_between(self) -> Array:
        return self.loadings @ self.between @ self.loadings.T

    def cov_within(self) -> Array:
        """Individual covariance without the covariates (the covariates shift means by cell)."""
        return self.loadings @ self.within @ self.loadings.T

    def cov_covariates(self) -> Array:
        return self.loadings @ self.covariate_cov @ self.loadings.T

    def cov_total(self) -> Array:
        return self.cov_between() + self.cov_within() + self.cov_covariates()

    def covariate_block(self) -> Array:
        """Columns of `loadings` that belong to the covariates."""
        start = len(self._exogenous())
        return self.loadings[:, start : start + len(self.covariates)]

    def _exogenous(self) -> list[str]:
        return [s for s in self.source_names if not s.startswith(("cov:", "zeta:"))]


def _covariates(population: Population) -> tuple[list[Covariate], list[tuple[float, Array]]]:
    covariates: list[Covariate] = []
    for paths in population.covariate_paths.values():
        for path in paths:
            dist = population.background[path.variable]
            per = path.per.split()
            code = None if per[1] == "step" else int(per[1])
            if any(c.variable == path.variable and c.code == code for c in covariates):
                continue
            if code is None:
                mean = sum(float(k) * p for k, p in dist.items() if isinstance(k, int))
            else:
                mean = float(dist[code])
            covariates.append(Covariate(path.variable, code, mean))
    variables = list(dict.fromkeys(c.variable for c in covariates))
    cells: list[tuple[float, Array]] = []
    for combo in product(*(list(population.background[v].items()) for v in variables)):
        prob = float(np.prod([p for _code, p in combo]))
        if prob == 0:
            continue
        codes = {v: int(code) for v, (code, _p) in zip(variables, combo, strict=True)}
        vector = np.array(
            [
                (codes[c.variable] if c.code is None else float(codes[c.variable] == c.code))
                - c.mean
                for c in covariates
            ]
        )
        cells.append((prob, vector))
    if not cells:
        cells.append((1.0, np.zeros(len(covariates))))
    return covariates, cells


def covariate_vector(covariates: tuple[Covariate, ...], codes: dict[str, Array]) -> Array:
    """The centred covariate matrix (respondents x covariates) for drawn background codes."""
    columns = []
    for c in covariates:
        values = codes[c.variable].astype(float)
        columns.append((values if c.code is None else (values == c.code)) - c.mean)
    if not columns:
        return np.zeros((len(next(iter(codes.values()), ())), 0))
    return np.column_stack(columns)


def _endogenous_order(population: Population) -> list[str]:
    # prof is explained by exogenous variables and covariates only; perf by prof as well; the
    # dimension factors by prof. A fixed order, checked: no path may point backwards.
    for predictor in population.structural.get(PROF, {}):
        if predictor in (PROF, PERF):
            raise PopulationError(f"structural.{PROF}.{predictor}: prof cannot depend on it")
    return [PROF, PERF, *population.dimensions]


def build(population: Population) -> LatentModel:
    """The latent model of `population` (names are assumed checked with `population.check`)."""
    exogenous = list(population.exogenous)
    covariates, cells = _covariates(population)
    endogenous = _endogenous_order(population)
    names = exogenous + endogenous
    sources = (
        exogenous
        + [f"cov:{c.variable}:{c.code if c.code is not None else 'step'}" for c in covariates]
        + [f"zeta:{e}" for e in endogenous]
    )
    n_x, n_c, n_s = len(exogenous), len(covariates), len(sources)
    icc = population.organisations.icc

    corr = population.correlation_matrix()
    sd_b = np.sqrt([icc.get(x, 0.0) for x in exogenous])
    sd_w = np.sqrt([1 - icc.get(x, 0.0) for x in exogenous])
    between = np.zeros((n_s, n_s))
    within = np.zeros((n_s, n_s))
    covariate_cov = np.zeros((n_s, n_s))
    between[:n_x, :n_x] = corr * np.outer(sd_b, sd_b)
    within[:n_x, :n_x] = corr * np.outer(sd_w, sd_w)
    if n_c:
        cov_c = sum(p * np.outer(v, v) for p, v in cells)
        covariate_cov[n_x : n_x + n_c, n_x : n_x + n_c] = cov_c

    loadings = np.zeros((len(names), n_s))
    for i in range(n_x):
        loadings[i, i] = 1.0
    paths: dict[tuple[str, str], float] = {}
    disturbance: dict[str, float] = {}
    for k, outcome in enumerate(endogenous):
        row = np.zeros(n_s)
        if outcome in population.dimensions:
            coefficients = {PROF: population.dimensions[outcome]}
        else:
            coefficients = dict(population.structural.get(outcome, {}))
        for predictor, beta in coefficients.items():
            row += beta * loadings[names.index(predictor)]
            paths[(outcome, predictor)] = beta
        for path in population.covariate_paths.get(outcome, ()):
            code = None if path.per.split()[1] == "step" else int(path.per.split()[1])
            j = next(
                i
                for i, c in enumerate(covariates)
                if c.variable == path.variable and c.code == code
            )
            row[n_x + j] += path.effect
            label = path.variable if code is None else f"{path.variable}_{code}"
            paths[(outcome, label)] = path.effect
        # The disturbances of earlier outcomes are set by now (prof's enters perf).
        total_sources = between + within + covariate_cov
        explained = float(row @ total_sources @ row)
        psi = 1.0 - explained
        if psi <= 0.01:
            raise PopulationError(
                f"{outcome}: its predictors explain {explained:.2f} of its variance of 1; "
                "lower the paths"
            )
        disturbance[outcome] = psi
        z = n_x + n_c + k
        row[z] = 1.0
        share = icc.get(outcome, 0.0)
        between[z, z] = share * psi
        within[z, z] = (1 - share) * psi
        loadings[n_x + k] = row
    return LatentModel(
        names=tuple(names),
        source_names=tuple(sources),
        loadings=loadings,
        between=between,
        within=within,
        covariate_cov=covariate_cov,
        covariates=tuple(covariates),
        cells=tuple(cells),
        paths=paths,
        disturbance=disturbance,
    )
