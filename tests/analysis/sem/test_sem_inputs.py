"""Bad data and models give one of our errors with a message naming the problem; bootstrap
intervals are reproducible; the summary and JSON use lavaan's layout and names."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vakstem.analysis.sem.api import fit
from vakstem.analysis.sem.engine import optimise
from vakstem.analysis.sem.errors import (
    ConvergenceError,
    DataError,
    ModelSpecificationError,
    ModelSyntaxError,
)
from vakstem.analysis.sem.partable import build_partable
from vakstem.analysis.sem.syntax import parse_model

FIXTURES = Path(__file__).parent / "fixtures"
HS_MODEL = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
MEDIATION = "Y ~ c*X\nM ~ a*X\nY ~ b*M\nab := a*b\ntotal := c + (a*b)"


@pytest.fixture(scope="module")
def hs() -> pd.DataFrame:
    return pd.read_csv(FIXTURES / "hs1939.csv")


@pytest.fixture(scope="module")
def mediation() -> pd.DataFrame:
    return pd.read_csv(FIXTURES / "mediation.csv")


def test_a_model_variable_missing_from_the_data_is_named(hs: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="'x10' which is not a column of the data"):
        fit("f =~ x1 + x2 + x10", hs)


def test_a_non_numeric_column_is_named_with_its_first_bad_value(hs: pd.DataFrame) -> None:
    data = hs.copy()
    data["x2"] = data["x2"].astype(object)
    data.loc[4, "x2"] = "veel"
    with pytest.raises(DataError, match="column 'x2' is not numeric: row 5 holds 'veel'"):
        fit(HS_MODEL, data)


def test_numbers_stored_as_text_are_accepted(hs: pd.DataFrame) -> None:
    data = hs.copy()
    data["x2"] = data["x2"].astype(str)
    assert fit(HS_MODEL, data).fit_measures["chisq"] == pytest.approx(85.3055, abs=1e-3)


def test_a_variable_with_zero_variance_is_named(hs: pd.DataFrame) -> None:
    data = hs.copy()
    data["x3"] = 2.0
    with pytest.raises(DataError, match="variable 'x3' has zero variance"):
        fit(HS_MODEL, data)


def test_linearly_dependent_columns_are_named(hs: pd.DataFrame) -> None:
    data = hs.copy()
    data["x3"] = data["x1"] + data["x2"]
    with pytest.raises(DataError, match=r"not positive definite: the variables .*'x3'"):
        fit(HS_MODEL, data)


def test_too_few_complete_rows_says_how_many_are_needed(hs: pd.DataFrame) -> None:
    with pytest.raises(DataError, match=r"too few complete rows: 5 rows .* 9 observed variables"):
        fit(HS_MODEL, hs.head(5))


def test_a_group_with_one_member_is_named(hs: pd.DataFrame) -> None:
    data = hs.copy()
    data.loc[0, "school"] = "Eenling"
    with pytest.raises(DataError, match="group 'Eenling' of 'school' has only 1 usable row"):
        fit(HS_MODEL, data, group="school")


def test_empty_data_is_refused(hs: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="the data is empty"):
        fit(HS_MODEL, hs.iloc[0:0])


def test_a_latent_variable_without_a_scale_is_not_identified(hs: pd.DataFrame) -> None:
    with pytest.raises(ModelSpecificationError, match="latent variable 'f' has no scale"):
        fit("f =~ NA*x1 + x2 + x3", hs)


def test_more_parameters_than_moments_is_not_identified(hs: pd.DataFrame) -> None:
    with pytest.raises(ModelSpecificationError, match="5 free parameters but the data give only 3"):
        fit("f =~ x1 + x2\nx1 ~~ x2", hs)


def test_an_empirically_unidentified_parameter_is_named(hs: pd.DataFrame) -> None:
    # Two reciprocal paths between the same pair, each with its own free residual: the
    # information matrix is singular.
    with pytest.raises(ModelSpecificationError, match="not identified"):
        fit("x1 ~ x2\nx2 ~ x1", hs)


def test_a_defined_parameter_with_an_unknown_label_is_refused(mediation: pd.DataFrame) -> None:
    with pytest.raises(ModelSpecificationError, match="uses 'd', which is not a label"):
        fit("Y ~ a*X\nind := a*d", mediation)


def test_a_latent_variable_named_like_a_column_is_refused(hs: pd.DataFrame) -> None:
    with pytest.raises(ModelSpecificationError, match="'x1' has the same name as a column"):
        fit("x1 =~ x2 + x3 + x4", hs)


def test_a_duplicated_parameter_is_refused(hs: pd.DataFrame) -> None:
    with pytest.raises(
        ModelSpecificationError,
        match="line 2: the parameter 'x2 ~~ x1' is already specified on line 1",
    ):
        fit("x1 ~~ x2\nx2 ~~ x1", hs)


def test_a_syntax_error_reaches_the_caller_as_such(hs: pd.DataFrame) -> None:
    with pytest.raises(ModelSyntaxError, match="line 2: unexpected '~~~'"):
        fit("f =~ x1 + x2 + x3\nx1 ~~~ x2", hs)


def test_unknown_options_are_refused(hs: pd.DataFrame) -> None:
    with pytest.raises(ModelSpecificationError, match="estimator must be 'ML' or 'MLR'"):
        fit(HS_MODEL, hs, estimator="WLSMV")
    with pytest.raises(ModelSpecificationError, match="group_equal value 'slopes'"):
        fit(HS_MODEL, hs, group="school", group_equal=["slopes"])


def test_an_optimiser_that_runs_out_of_iterations_raises_convergence_error(
    hs: pd.DataFrame,
) -> None:
    result = fit(HS_MODEL, hs)
    assert result._estimates is not None
    model = result._estimates.model
    start = np.ones(model.n_free) * 0.3
    with pytest.raises(ConvergenceError, match="did not converge"):
        optimise(model, start, max_iter=1)


def test_bootstrap_intervals_are_reproducible_by_seed(mediation: pd.DataFrame) -> None:
    first = fit(MEDIATION, mediation, bootstrap=60, seed=11)
    again = fit(MEDIATION, mediation, bootstrap=60, seed=11)
    other = fit(MEDIATION, mediation, bootstrap=60, seed=12)
    columns = ["boot.ci.lower", "boot.ci.upper"]
    defined = first.parameters["op"] == ":="
    assert first.parameters.loc[defined, columns].equals(again.parameters.loc[defined, columns])
    assert not first.parameters.loc[defined, columns].equals(other.parameters.loc[defined, columns])
    assert first.bootstrap["successful"] == 60


def test_bootstrap_interval_is_near_the_delta_method_interval(mediation: pd.DataFrame) -> None:
    result = fit(MEDIATION, mediation, bootstrap=300, seed=5)
    row = result.parameters.set_index("lhs").loc["ab"]
    assert row["boot.ci.lower"] < row["est"] < row["boot.ci.upper"]
    assert abs(row["boot.ci.lower"] - row["ci.lower"]) < 0.05
    assert abs(row["boot.ci.upper"] - row["ci.upper"]) < 0.05


def test_summary_has_lavaan_blocks_and_numbers(mediation: pd.DataFrame, hs: pd.DataFrame) -> None:
    text = fit(MEDIATION, mediation).summary()
    for title in ["Model Test User Model:", "Regressions:", "Variances:", "Defined Parameters:"]:
        assert title in text
    assert "    ab" in text and "0.462" in text
    grouped = fit(HS_MODEL, hs, group="school", group_equal=["loadings"]).summary()
    assert "Group 2 [Grant-White]:" in grouped and "Intercepts:" in grouped
    assert "(.p2.)" in grouped
    robust = fit(HS_MODEL, hs, estimator="MLR").summary()
    assert "Robust RMSEA" in robust and "87.132" in robust


def test_json_uses_lavaan_names(mediation: pd.DataFrame) -> None:
    payload = json.loads(fit(MEDIATION, mediation).to_json())
    assert payload["lavaan_compat"] == "0.6.14"
    assert {"npar", "chisq", "df", "cfi", "rmsea", "srmr", "aic", "bic", "logl"} <= set(
        payload["fit"]
    )
    first = payload["parameters"][0]
    assert list(first)[:11] == [
        "lhs",
        "op",
        "rhs",
        "group",
        "label",
        "est",
        "se",
        "z",
        "pvalue",
        "ci.lower",
        "ci.upper",
    ]
    assert payload["parameters"][0]["label"] == "c"


def test_fiml_drops_rows_missing_a_fixed_covariate_as_lavaan() -> None:
    data = pd.read_csv(FIXTURES / "mediation_missing.csv")
    data.loc[0:4, "X"] = np.nan
    result = fit("Y ~ c*X\nM ~ a*X\nY ~ b*M", data, missing="ml")
    assert result.n_obs == [195]  # lavaan 0.6.14: "5 cases were deleted"


def test_a_large_valued_column_with_real_variance_is_accepted(hs: pd.DataFrame) -> None:
    data = hs.copy()
    data["x1"] = 1e7 + data["x1"] * 1e-2
    result = fit(HS_MODEL, data)
    assert result.fit_measures["chisq"] == pytest.approx(85.3055, abs=1e-3)


def test_a_constraint_on_an_unknown_label_is_refused(hs: pd.DataFrame) -> None:
    with pytest.raises(ModelSpecificationError, match="line 2: the constraint uses 'b'"):
        fit("f =~ x1 + a*x2 + x3\na == b", hs)


def test_an_implied_matrix_with_two_negative_eigenvalues_is_not_accepted() -> None:
    # A determinant test passes a matrix with two negative eigenvalues; the optimiser then ran
    # off to -infinity on this (identified) model, which lavaan fits with chi-square 173.926.
    data = pd.read_csv(FIXTURES / "hs1939_missing.csv")
    model = "f1 =~ NA*x2 + NA*x8 + a*x3 + x9\nf2 =~ b*x5 + x4\nx1 ~~ x7"
    result = fit(model, data, std_lv=True)
    assert result.fit_measures["chisq"] == pytest.approx(173.926, abs=1e-3)
    assert result.fit_measures["df"] == 20


def test_an_indicator_of_two_factors_keeps_a_free_residual_variance() -> None:
    # lavaan fixes a single indicator's residual variance to 0 only when it measures one factor.
    table = build_partable(parse_model("f1 =~ x3\nf2 =~ x1 + x2 + x3 + x4\ng =~ x5"))
    variances = {row.lhs: row for row in table.rows if row.op == "~~" and row.lhs == row.rhs}
    assert variances["x3"].free
    assert not variances["x5"].free and variances["x5"].value == 0.0


def test_a_weak_first_indicator_does_not_spoil_the_start(hs: pd.DataFrame) -> None:
    # x2 barely measures this factor; lavaan 0.6.14 (std.lv, FIML, two groups, a label shared
    # by the groups) reports chi-square 17.2253 on 5 degrees of freedom.
    data = pd.read_csv(FIXTURES / "hs1939_missing.csv")
    result = fit("f1 =~ x2 + x6 + a*x7 + x8", data, std_lv=True, group="school", missing="ml")
    assert result.fit_measures["chisq"] == pytest.approx(17.2252614, abs=1e-3)
    assert result.fit_measures["npar"] == 23


def test_std_lv_with_equal_loadings_frees_later_groups_latent_variances(
    hs: pd.DataFrame,
) -> None:
    result = fit(HS_MODEL, hs, group="school", group_equal=["loadings"], std_lv=True)
    rows = result.parameters.set_index(["lhs", "op", "rhs", "group"])
    assert rows.loc[("visual", "~~", "visual", 1), "se"] == 0
    assert rows.loc[("visual", "~~", "visual", 2), "se"] > 0
    # Equivalent to the marker-identified metric model: same fit.
    metric = fit(HS_MODEL, hs, group="school", group_equal=["loadings"])
    assert result.fit_measures["chisq"] == pytest.approx(metric.fit_measures["chisq"], abs=1e-6)


def test_covariances_are_written_in_lavaan_order(hs: pd.DataFrame) -> None:
    result = fit("f1 =~ x1 + x4 + x5 + x7\nx4 ~~ x1", hs)
    rows = result.parameters
    assert ("x1", "~~", "x4") in set(zip(rows["lhs"], rows["op"], rows["rhs"], strict=True))


def test_too_few_answers_for_the_saturated_model_name_the_sparsest_variables() -> None:
    """lavaan 0.6.14 warns four times and reports a CFI of 1.000 for such data (a group of 63
    simulated klantmanagers, four items answered by 15); Vakstem refuses and says where the
    data run out: x5 and x6 are answered in 3 rows, too few to regress them on the rest."""
    rng = np.random.default_rng(3)
    factor = rng.normal(size=(40, 1))
    data = pd.DataFrame(
        factor @ np.ones((1, 6)) + rng.normal(size=(40, 6)),
        columns=[f"x{i}" for i in range(1, 7)],
    )
    data.loc[3:, ["x5", "x6"]] = np.nan
    data.loc[10:, "x4"] = np.nan
    with pytest.raises(DataError) as caught:
        fit("F =~ x1 + x2 + x3 + x4 + x5 + x6", data, missing="ml")
    message = str(caught.value)
    assert "no positive definite covariance matrix" in message
    assert message.endswith("fewest answers: x5 in 3, x6 in 3, x4 in 10 of 40 rows")
