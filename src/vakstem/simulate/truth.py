"""The true values of a population, computed exactly from the model the data are drawn from.

Latent level: loadings, structural paths (unstandardised and standardised), indirect and total
effects of the HR practices through professional action, R², and the intraclass correlation of
every latent variable. Observed level: means, SDs and correlations of the scale scores (and of
the single items), and the ICC of each scale score — computed from bivariate-normal rectangle
probabilities of the thresholded latent responses (mixed over the cells of the individual
covariates), and for the ICC by Gauss–Hermite integration over the organisation effect. So a
test compares sample values against exact population values, not against a bigger sample.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import ndtr

from vakstem.instrument.schema import Study
from vakstem.simulate.draw import ObservedItem, observed_items
from vakstem.simulate.model import Array, LatentModel, build
from vakstem.simulate.population import (
    PERF,
    PROF,
    GateItem,
    LatentItem,
    LinearNumber,
    Population,
)

#: Gauss–Legendre nodes for the bivariate normal integral: within 1e-14 of scipy's
#: multivariate normal CDF for |rho| <= 0.9 (checked in the tests).
_LEGENDRE = np.polynomial.legendre.leggauss(20)
#: Gauss–Hermite (probabilists') nodes for integrating over a normal organisation effect.
_HERMITE = np.polynomial.hermite_e.hermegauss(60)
#: Blocks of the analysis plan that form the AMO groups of the research question.
AMO_BLOCKS = {"hrm_ability": "A", "hrm_motivation": "M", "hrm_opportunity": "O"}


def bivariate_normal_cdf(h: Array, k: Array, rho: Array) -> Array:
    """P(Z1 < h, Z2 < k) for standard normals with correlation rho (element-wise, broadcast),
    by integrating Sheppard's formula over the angle arcsin(rho)."""
    h, k, rho = np.broadcast_arrays(
        np.asarray(h, float), np.asarray(k, float), np.asarray(rho, float)
    )
    nodes, weights = _LEGENDRE
    angle = np.arcsin(np.clip(rho, -0.999999, 0.999999))
    theta = angle[..., None] * (nodes + 1) / 2
    sin, cos2 = np.sin(theta), np.cos(theta) ** 2
    hh, kk = h[..., None], k[..., None]
    integrand = np.exp(-(hh**2 + kk**2 - 2 * hh * kk * sin) / (2 * cos2))
    integral = (integrand * weights).sum(axis=-1) * angle / 2
    result: Array = ndtr(h) * ndtr(k) + integral / (2 * np.pi)
    return result


def _padded(items: list[ObservedItem]) -> tuple[Array, Array, Array]:
    """Thresholds (padded with +inf), code steps (padded with 0) and lowest codes."""
    width = max(len(i.thresholds) for i in items)
    thresholds = np.full((len(items), width), np.inf)
    steps = np.zeros((len(items), width))
    lowest = np.zeros(len(items))
    for r, item in enumerate(items):
        thresholds[r, : len(item.thresholds)] = item.thresholds
        steps[r, : len(item.thresholds)] = np.diff(item.codes)
        lowest[r] = item.codes[0]
    return thresholds, steps, lowest


def _standardised(means: Array, sds: Array, thresholds: Array) -> Array:
    return np.clip((means[:, None] - thresholds) / sds[:, None], -40.0, 40.0)


def item_moments(items: list[ObservedItem], model: LatentModel) -> tuple[Array, Array]:
    """Exact mean vector and covariance matrix of the items' answer codes (no missing)."""
    idx = np.array([model.index(i.factor) for i in items])
    lam = np.array([i.loading for i in items])
    intercept = np.array([i.intercept for i in items])
    unique = np.array([i.unique for i in items])
    sigma0 = model.cov_between() + model.cov_within()
    cov = np.outer(lam, lam) * sigma0[np.ix_(idx, idx)]
    var = lam**2 * sigma0[idx, idx] + unique
    np.fill_diagonal(cov, var)
    sd = np.sqrt(var)
    rho = cov / np.outer(sd, sd)
    thresholds, steps, lowest = _padded(items)
    shift = model.covariate_block()
    first = np.zeros(len(items))
    second = np.zeros((len(items), len(items)))
    for prob, vector in model.cells:
        means = intercept + lam * (shift @ vector)[idx]
        h = _standardised(means, sd, thresholds)
        upper = ndtr(h)
        expected = lowest + (steps * upper).sum(axis=1)
        # Pairs above the diagonal only (the matrix is symmetric; the diagonal comes below).
        rows, cols = np.triu_indices(len(items), 1)
        joint = bivariate_normal_cdf(
            h[rows][:, :, None], h[cols][:, None, :], rho[rows, cols][:, None, None]
        )
        upper_cross = np.einsum("pa,pb,pab->p", steps[rows], steps[cols], joint)
        cross = np.zeros((len(items), len(items)))
        cross[rows, cols] = upper_cross
        cross[cols, rows] = upper_cross
        part = (
            np.outer(lowest, lowest)
            + np.outer(lowest, expected - lowest)
            + np.outer(expected - lowest, lowest)
            + cross
        )
        # The diagonal from the category probabilities (the pair formula needs i != j).
        for r, item in enumerate(items):
            tail = np.concatenate([[1.0], upper[r, : len(item.thresholds)], [0.0]])
            probs = tail[:-1] - tail[1:]
            part[r, r] = float((np.asarray(item.codes, float) ** 2 * probs).sum())
        first += prob * expected
        second += prob * part
    return first, second - np.outer(first, first)


def _scale_weights(
    study: Study, items: list[ObservedItem], scales: list[str]
) -> tuple[Array, Array]:
    """Scale scores as weights @ codes + offset (mean of items after reverse-keying)."""
    position = {item.variable: r for r, item in enumerate(items)}
    plan = {s.id: s for s in study.scales}
    weights = np.zeros((len(scales), len(items)))
    offset = np.zeros(len(scales))
    for s, name in enumerate(scales):
        scale = plan[name]
        k = len(scale.items)
        for variable in scale.items:
            item = items[position[variable]]
            if variable in scale.reverse:
                weights[s, position[variable]] = -1 / k
                offset[s] += (min(item.codes) + max(item.codes)) / k
            else:
                weights[s, position[variable]] = 1 / k
    return weights, offset


def _conditional(study: Study) -> set[str]:
    """Variables asked only when a condition holds (on the item or its page)."""
    return {
        v
        for page in study.pages
        for item in page.items
        if page.relevant or item.relevant
        for v in item.variables()
    }


def _scale_icc(
    items: list[ObservedItem],
    model: LatentModel,
    weights: Array,
    total_var: float,
) -> float:
    """Between-organisation share of a scale score's variance: Var_b(E[score | b]) / Var,
    with b the organisation part of the scale's factor."""
    used = np.flatnonzero(weights)
    factors = {items[r].factor for r in used}
    assert len(factors) == 1, "a scale's items load on one factor"
    f = model.index(factors.pop())
    v_between = float(model.cov_between()[f, f])
    v_rest = float((model.cov_between() + model.cov_within())[f, f]) - v_between
    if v_between <= 0:
        return 0.0
    sub = [items[r] for r in used]
    lam = np.array([i.loading for i in sub])
    intercept = np.array([i.intercept for i in sub])
    sd = np.sqrt(lam**2 * v_rest + np.array([i.unique for i in sub]))
    thresholds, steps, lowest = _padded(sub)
    w = weights[used]
    nodes, node_weights = _HERMITE
    node_weights = node_weights / node_weights.sum()
    shift = model.covariate_block()[f]
    conditional = np.zeros(len(nodes))
    for prob, vector in model.cells:
        # means[q, r]: item r's latent-response mean given the organisation effect at node q.
        means = intercept + lam * (np.sqrt(v_between) * nodes[:, None] + shift @ vector)
        h = np.clip((means[:, :, None] - thresholds) / sd[:, None], -40.0, 40.0)
        expected = lowest + (steps * ndtr(h)).sum(axis=2)
        conditional += prob * (expected @ w)
    mean = float(node_weights @ conditional)
    return float(node_weights @ (conditional - mean) ** 2) / total_var


def _matrix(names: list[str], values: Array, digits: int = 6) -> dict[str, dict[str, float]]:
    return {
        a: {b: round(float(values[i, j]), digits) for j, b in enumerate(names)}
        for i, a in enumerate(names)
    }


def _block_of(study: Study, population: Population, latent: str) -> str | None:
    blocks = {s.id: s.block for s in study.scales}
    for name, spec in population.scales.items():
        if spec.factor == latent and blocks.get(name):
            return blocks[name]
    for variable, single in population.single_items.items():
        if isinstance(single, GateItem) and single.latent == latent:
            prefix = variable.rsplit("_", 1)[0]
            return blocks.get(prefix)
    return None


def _measures(population: Population) -> dict[str, dict[str, Any]]:
    """Which latent variable each scale and single item measures, so an analysis can match its
    names (BR, pa_1, cl_2) to the population's (br, pa_exists, caseload)."""
    result: dict[str, dict[str, Any]] = {
        name: {"latent": spec.factor, "how": "scale items (y* = intercept + loading * factor + e)"}
        for name, spec in population.scales.items()
    }
    for variable, single in population.single_items.items():
        if isinstance(single, GateItem):
            result[variable] = {
                "latent": single.latent,
                "how": f"1 (yes) when {single.latent} > {single.threshold}, else 0",
            }
        elif isinstance(single, LatentItem):
            result[variable] = {"latent": single.factor, "how": "single item on its factor"}
        elif isinstance(single, LinearNumber):
            result[variable] = {
                "latent": single.latent,
                "how": f"round({single.mean} + {single.sd} * {single.latent}) within "
                f"[{single.min}, {single.max}]",
            }
    return result


def true_values(study: Study, population: Population) -> dict[str, Any]:
    """Every true value of `population` as plain JSON-ready data (lavaan-style names)."""
    model = build(population)
    total = model.cov_total()
    sd_latent = np.sqrt(np.diag(total))
    covariate_sd = {
        (c.variable if c.code is None else f"{c.variable}_{c.code}"): float(
            np.sqrt(model.covariate_cov[j, j])
        )
        for j, c in ((len(population.exogenous) + i, c) for i, c in enumerate(model.covariates))
    }
    paths = []
    for (outcome, predictor), est in model.paths.items():
        sd_y = sd_latent[model.index(outcome)]
        if predictor in model.names:
            sd_x = sd_latent[model.index(predictor)]
        else:
            sd_x = covariate_sd[predictor]
        op = "=~" if outcome in population.dimensions else "~"
        lhs, rhs = (predictor, outcome) if op == "=~" else (outcome, predictor)
        paths.append(
            {"lhs": lhs, "op": op, "rhs": rhs, "est": est, "std": round(est * sd_x / sd_y, 6)}
        )
    loadings = [
        {
            "lhs": item.factor,
            "op": "=~",
            "rhs": item.variable,
            "est": item.loading,
            "std": item.loading,
            "intercept": item.intercept,
        }
        for item in observed_items(study, population)
        if not isinstance(population.single_items.get(item.variable), GateItem)
    ]

    b = model.paths.get((PERF, PROF), 0.0)
    indirect: dict[str, float] = {}
    blocks: dict[str, float] = {}
    for (outcome, predictor), a in model.paths.items():
        if outcome != PROF or predictor not in population.exogenous:
            continue
        indirect[f"ind_{predictor}"] = round(a * b, 6)
        block = _block_of(study, population, predictor)
        if block in AMO_BLOCKS:
            blocks[AMO_BLOCKS[block]] = blocks.get(AMO_BLOCKS[block], 0.0) + a * b
    for letter, value in sorted(blocks.items()):
        indirect[f"ind_{letter}"] = round(value, 6)
    total_effects = {
        f"total_{x}": round(
            model.paths.get((PERF, x), 0.0) + model.paths.get((PROF, x), 0.0) * b, 6
        )
        for x in population.exogenous
        if (PERF, x) in model.paths or (PROF, x) in model.paths
    }

    icc_latent = np.diag(model.cov_between()) / np.diag(total)
    conditional = _conditional(study)
    items = [i for i in observed_items(study, population) if i.variable not in conditional]
    means, cov = item_moments(items, model)
    scales = [s.id for s in study.scales if not conditional & set(s.items)]
    weights, offset = _scale_weights(study, items, scales)
    scale_cov = weights @ cov @ weights.T
    scale_mean = weights @ means + offset
    scale_sd = np.sqrt(np.diag(scale_cov))
    scale_icc = {
        name: round(_scale_icc(items, model, weights[s], float(scale_cov[s, s])), 6)
        for s, name in enumerate(scales)
    }
    item_sd = np.sqrt(np.diag(cov))
    excluded = [s.id for s in study.scales if s.id not in scales]
    return {
        "about": (
            "True values of the population model the simulated data were drawn from. Latent "
            "variables have variance 1, so latent paths are both unstandardised (est) and "
            "standardised (std); paths from covariates are per unit of the covariate (est) and "
            "per SD (std). Item loadings are on the latent response y* behind each answer. "
            "Observed values (scale scores, items) are exact population values for clean "
            "answers (no skipped items, weet ik niet, speeders or straightliners)."
        ),
        "population_version": population.version,
        "latent": {
            "variables": list(model.names),
            "correlation": _matrix(list(model.names), total / np.outer(sd_latent, sd_latent)),
            "icc": {n: round(float(v), 6) for n, v in zip(model.names, icc_latent, strict=True)},
            "r2": {k: round(1 - v, 6) for k, v in model.disturbance.items()},
        },
        "measures": _measures(population),
        "loadings": loadings,
        "paths": paths,
        "indirect": indirect,
        "total": total_effects,
        "scale_scores": {
            "variables": scales,
            "not_included": {
                name: "asked only of part of the respondents (a condition), so its population "
                "values depend on that selection"
                for name in excluded
            },
            "mean": {n: round(float(v), 6) for n, v in zip(scales, scale_mean, strict=True)},
            "sd": {n: round(float(v), 6) for n, v in zip(scales, scale_sd, strict=True)},
            "correlation": _matrix(scales, scale_cov / np.outer(scale_sd, scale_sd)),
            "icc": scale_icc,
        },
        "items": {
            "mean": {i.variable: round(float(m), 6) for i, m in zip(items, means, strict=True)},
            "sd": {i.variable: round(float(s), 6) for i, s in zip(items, item_sd, strict=True)},
        },
    }
