"""Random-intercept models, ICCs and cluster-robust OLS equal R (lme4 1.1.31, sandwich 3.0.2).

Reference values: `make_reference.R` beside this file, run once; its output is reference.json.
Data: lme4's sleepstudy, and a seeded simulation with 40 unbalanced clusters (clustered.csv).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from vakstem.analysis.multilevel import (
    MultilevelError,
    cluster_robust_ols,
    icc,
    icc_table,
    random_intercept,
)

HERE = Path(__file__).parent
REFERENCE: dict[str, Any] = json.loads((HERE / "reference.json").read_text())
TOL = 1e-3

CASES = {
    "sleepstudy": ("Reaction", ("Days",), "Subject"),
    "clustered": ("y", ("x1", "x2"), "g"),
}


def data(name: str) -> pd.DataFrame:
    frame = pd.read_csv(HERE / f"{name}.csv")
    if name == "sleepstudy":
        frame["Subject"] = frame["Subject"].astype(str)
    return frame


def close(ours: float, theirs: float, what: str) -> None:
    assert ours == pytest.approx(theirs, abs=TOL, rel=TOL), what


def close_relative(ours: float, theirs: float, what: str) -> None:
    # Standard errors are small numbers: compare them relative to their own size.
    assert ours == pytest.approx(theirs, rel=TOL), what


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("method", ["reml", "ml"])
def test_random_intercept_model_equals_lme4(name: str, method: str) -> None:
    outcome, predictors, cluster = CASES[name]
    ref = REFERENCE[name][method]
    result = random_intercept(data(name), outcome, predictors, cluster, reml=method == "reml")
    ours = result.to_dict()
    assert ours["REML"] is ref["REML"]
    assert (ours["nobs"], ours["ngroups"]) == (ref["nobs"], ref["ngroups"])
    for term in ref["fixef"]:
        close(ours["fixef"][term], ref["fixef"][term], f"{term} estimate")
        close_relative(ours["se"][term], ref["se"][term], f"{term} se")
        close(ours["t"][term], ref["t"][term], f"{term} t")
    for key in ("group_var", "residual_var", "logLik", "AIC", "BIC"):
        close(ours[key], ref[key], key)
    assert result.converged
    assert ours["missing"] == "listwise"


@pytest.mark.parametrize("name", list(CASES))
def test_icc_of_the_null_model_equals_lme4(name: str) -> None:
    outcome, _predictors, cluster = CASES[name]
    ref = REFERENCE[name]["icc"]
    result = icc(data(name), outcome, cluster).to_dict()
    for key in ("icc", "group_var", "residual_var", "intercept", "logLik"):
        close(result[key], ref[key], key)
    assert result["method"] == "REML"


@pytest.mark.parametrize("name", list(CASES))
def test_cluster_robust_ols_equals_sandwich_vcovcl(name: str) -> None:
    outcome, predictors, cluster = CASES[name]
    ref = REFERENCE[name]["robust"]
    result = cluster_robust_ols(data(name), outcome, predictors, cluster).to_dict()
    assert result["df_resid"] == ref["df_resid"]
    for term in ref["coef"]:
        close(result["coef"][term], ref["coef"][term], f"{term} estimate")
        close_relative(result["se"][term], ref["se"][term], f"{term} robust se")
        close_relative(result["se_ols"][term], ref["se_ols"][term], f"{term} ols se")
        close(result["t"][term], ref["t"][term], f"{term} t")
        assert result["p"][term] == pytest.approx(ref["p"][term], rel=TOL, abs=1e-12)


def test_icc_table_has_a_row_per_outcome() -> None:
    frame = data("clustered")
    table = icc_table(frame, ["y", "x2"], "g")
    assert table["outcome"].tolist() == ["y", "x2"]
    close(table.loc[0, "icc"], REFERENCE["clustered"]["icc"]["icc"], "icc")
    # x2 is built from a cluster-level variable: it must show clear clustering.
    assert table.loc[1, "icc"] > 0.2


def test_rows_with_missing_values_are_left_out_and_counted() -> None:
    frame = data("clustered")
    frame.loc[[0, 5, 9], "x1"] = np.nan
    frame.loc[12, "g"] = None
    result = random_intercept(frame, "y", ["x1", "x2"], "g")
    assert (result.nobs, result.n_dropped) == (len(frame) - 4, 4)


def test_unsorted_rows_give_the_same_model() -> None:
    frame = data("sleepstudy")
    shuffled = frame.sample(frac=1.0, random_state=3).reset_index(drop=True)
    a = random_intercept(frame, "Reaction", ["Days"], "Subject")
    b = random_intercept(shuffled, "Reaction", ["Days"], "Subject")
    close(a.group_var, b.group_var, "group var")
    close_relative(a.coefficient("Days").se, b.coefficient("Days").se, "se")


def test_identical_cluster_means_give_a_boundary_fit_equal_to_ols() -> None:
    # Every cluster has the same mean: the REML cluster variance is 0 (lme4: a boundary,
    # singular fit), and the model is then ordinary least squares.
    rng = np.random.default_rng(4)
    values = rng.normal(size=(20, 6))
    values += 3.0 - values.mean(axis=1, keepdims=True)
    frame = pd.DataFrame({"y": values.ravel(), "g": np.repeat(np.arange(20), 6)})
    result = random_intercept(frame, "y", [], "g")
    assert result.group_var == 0.0
    assert result.converged
    assert any("boundary" in message for message in result.messages)
    y = frame["y"].to_numpy()
    residual = float(np.sum((y - y.mean()) ** 2)) / (y.size - 1)
    close(result.coefficient("(Intercept)").estimate, 3.0, "intercept")
    close(result.residual_var, residual, "residual variance")
    close_relative(result.coefficient("(Intercept)").se, (residual / y.size) ** 0.5, "se")


def test_the_fit_is_the_minimum_of_lme4s_deviance_near_it() -> None:
    frame = data("clustered")
    result = random_intercept(frame, "y", ["x1", "x2"], "g", reml=False)
    theta = (result.group_var / result.residual_var) ** 0.5
    at_fit = random_intercept_deviance(frame, theta)
    assert at_fit == pytest.approx(-2 * result.loglik, rel=1e-10)
    for other in (theta * 0.999, theta * 1.001):
        assert random_intercept_deviance(frame, other) > at_fit


def random_intercept_deviance(frame: pd.DataFrame, theta: float) -> float:
    """ML deviance of y ~ x1 + x2 + (1 | g) at tau / sigma = theta, from the dense marginal
    covariance (no closed forms): sigma^2 and the fixed effects profiled out."""
    y = frame["y"].to_numpy()
    x = np.column_stack([np.ones(len(frame)), frame["x1"], frame["x2"]])
    z = pd.get_dummies(frame["g"]).to_numpy(dtype=float)
    v = np.eye(len(frame)) + theta**2 * z @ z.T
    v_inv = np.linalg.inv(v)
    beta = np.linalg.solve(x.T @ v_inv @ x, x.T @ v_inv @ y)
    r = y - x @ beta
    sigma2 = float(r @ v_inv @ r) / len(frame)
    return float(np.linalg.slogdet(v)[1] + len(frame) * (1 + np.log(2 * np.pi * sigma2)))


def test_single_cluster_is_refused() -> None:
    frame = data("sleepstudy")
    one = frame[frame["Subject"] == "308"]
    with pytest.raises(MultilevelError, match=r"cluster variable 'Subject' has only one cluster"):
        icc(one, "Reaction", "Subject")
    with pytest.raises(MultilevelError, match=r"only one cluster \('308'\)"):
        cluster_robust_ols(one, "Reaction", ["Days"], "Subject")


def test_non_numeric_outcome_is_refused() -> None:
    frame = pd.DataFrame({"y": ["hoog", "laag"] * 5, "g": list("aabbccddee")})
    with pytest.raises(MultilevelError, match=r"outcome 'y' is not numeric \(e.g. 'hoog'\)"):
        icc(frame, "y", "g")


def test_non_numeric_predictor_is_refused() -> None:
    frame = data("clustered")
    frame["sector"] = "gemeente"
    with pytest.raises(MultilevelError, match=r"predictor 'sector' is not numeric"):
        random_intercept(frame, "y", ["x1", "sector"], "g")


def test_too_few_rows_is_refused() -> None:
    frame = pd.DataFrame({"y": [1.0, 2.0, 3.0, 4.0], "x": [1.0, 0.0, 1.0, 0.0], "g": list("aabb")})
    with pytest.raises(MultilevelError, match=r"too few complete rows: 4 \(of 4\)"):
        random_intercept(frame, "y", ["x"], "g")


def test_missing_column_is_named() -> None:
    with pytest.raises(MultilevelError, match=r"column\(s\) 'x9' not in the data"):
        cluster_robust_ols(data("clustered"), "y", ["x1", "x9"], "g")


def test_constant_predictor_is_named() -> None:
    frame = data("clustered")
    frame["c"] = 1.0
    with pytest.raises(MultilevelError, match=r"predictor 'c' is constant"):
        cluster_robust_ols(frame, "y", ["x1", "c"], "g")


def test_collinear_predictor_is_named() -> None:
    frame = data("clustered")
    frame["x3"] = frame["x1"] + 2 * frame["x2"]
    with pytest.raises(MultilevelError, match=r"predictor 'x3' is a linear combination"):
        random_intercept(frame, "y", ["x1", "x2", "x3"], "g")


def test_zero_variance_outcome_is_refused() -> None:
    frame = data("clustered")
    frame["y"] = 3.0
    with pytest.raises(MultilevelError, match=r"outcome 'y' has zero variance"):
        icc(frame, "y", "g")


def test_clusters_of_one_row_each_are_refused_for_a_random_intercept() -> None:
    frame = pd.DataFrame({"y": np.arange(8.0), "g": list("abcdefgh")})
    with pytest.raises(MultilevelError, match=r"every cluster of 'g' has a single row"):
        icc(frame, "y", "g")


def test_empty_data_is_refused() -> None:
    with pytest.raises(MultilevelError, match=r"the data has no rows"):
        icc(pd.DataFrame({"y": [], "g": []}), "y", "g")
