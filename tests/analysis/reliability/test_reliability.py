"""Alpha (and its companion statistics) equal R psych 2.2.9 on bfi, with and without holes.

Reference values: `make_reference.R` beside this file, run once; its output is reference.json.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from vakstem.analysis.reliability import (
    ReliabilityError,
    cronbach_alpha,
    mcdonald_omega,
    minres,
    reliability_table,
    scale_reliability,
)
from vakstem.analysis.scoring import keyed_items
from vakstem.instrument.schema import Choice, Item, ItemType, MatrixRow, Page, Scale, Study

HERE = Path(__file__).parent
REFERENCE: dict[str, Any] = json.loads((HERE / "reference.json").read_text())
# Study variable ids are lower case; the R data keeps bfi's own names (A1 ... C5).
DATA = pd.read_csv(HERE / "bfi_scales.csv").rename(columns=str.lower)
TOL = 1e-3

SCALES = {
    "agreeableness": ("a1", "a2", "a3", "a4", "a5"),
    "conscientiousness": ("c1", "c2", "c3", "c4", "c5"),
    "agreeableness_3": ("a2", "a3", "a5"),
    "agreeableness_2": ("a2", "a3"),
}
WITH_OMEGA = ["agreeableness", "conscientiousness", "agreeableness_3"]


def keyed(name: str) -> tuple[pd.DataFrame, tuple[str, ...]]:
    reverse = REFERENCE[name]["reverse"]
    reverse = tuple(r.lower() for r in ([reverse] if isinstance(reverse, str) else reverse))
    scale = Scale(id=name, label=name, items=SCALES[name], reverse=reverse)
    bounds = {item: (1.0, 6.0) for item in SCALES[name]}
    return keyed_items(DATA, scale, bounds), reverse


def close(ours: float, theirs: float, what: str) -> None:
    assert ours == pytest.approx(theirs, abs=TOL, rel=TOL), what


@pytest.mark.parametrize("name", list(SCALES))
def test_alpha_totals_equal_psych(name: str) -> None:
    x, reverse = keyed(name)
    ref = REFERENCE[name]["alpha"]
    result = cronbach_alpha(x, reverse=reverse, scale=name).to_dict()
    assert result["n"] == ref["n_rows"]
    assert result["missing"] == "pairwise"
    for key, value in ref["total"].items():
        close(result["total"][key], value, f"{name} total {key}")


@pytest.mark.parametrize("name", WITH_OMEGA)
def test_alpha_if_item_dropped_equals_psych(name: str) -> None:
    x, reverse = keyed(name)
    ref = REFERENCE[name]["alpha"]
    result = cronbach_alpha(x, reverse=reverse, scale=name).to_dict()
    assert [d["item"] for d in result["alpha.drop"]] == [i.lower() for i in ref["items"]]
    for ours, theirs in zip(result["alpha.drop"], ref["alpha.drop"].values(), strict=True):
        for key, value in theirs.items():
            if value == "NA":
                # psych's var.r of a 2-item remainder is NA: one correlation has no variance.
                assert math.isnan(ours[key]), f"{name} {ours['item']} {key}"
                continue
            close(ours[key], value, f"{name} drop {ours['item']} {key}")


@pytest.mark.parametrize("name", list(SCALES))
def test_item_statistics_equal_psych(name: str) -> None:
    x, reverse = keyed(name)
    ref = REFERENCE[name]["alpha"]
    result = cronbach_alpha(x, reverse=reverse, scale=name).to_dict()
    for ours, theirs in zip(result["item.stats"], ref["item.stats"].values(), strict=True):
        for key, value in theirs.items():
            close(ours[key], value, f"{name} item {ours['item']} {key}")
    assert [s["reversed"] for s in result["item.stats"]] == [i in reverse for i in SCALES[name]]


def test_pairwise_standardised_alpha_differs_from_listwise_on_holes() -> None:
    # Guards the convention itself: with 15% holes, listwise deletion gives another number,
    # so matching psych proves pairwise handling rather than a lucky coincidence.
    x, reverse = keyed("conscientiousness")
    pairwise = cronbach_alpha(x, reverse=reverse).raw_alpha
    listwise = cronbach_alpha(x.dropna(), reverse=reverse).raw_alpha
    assert abs(pairwise - listwise) > 1e-3
    close(pairwise, REFERENCE["conscientiousness"]["alpha"]["total"]["raw_alpha"], "raw")


def test_rows_without_any_answer_are_not_counted() -> None:
    x, reverse = keyed("agreeableness")
    padded = pd.concat([x, pd.DataFrame(np.nan, index=range(50), columns=x.columns)])
    assert cronbach_alpha(padded, reverse=reverse).n == len(x)


def test_single_item_scale_is_refused() -> None:
    with pytest.raises(ReliabilityError, match=r"scale 'solo' has 1 item\(s\); .* at least 2"):
        cronbach_alpha(pd.DataFrame({"a": [1.0, 2.0, 3.0]}), scale="solo")


def test_zero_variance_item_is_named() -> None:
    df = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "b": [3.0, 3.0, 3.0, np.nan]})
    with pytest.raises(ReliabilityError, match=r"item 'b' has zero variance \(only the value 3\)"):
        cronbach_alpha(df, scale="s")


def test_too_few_rows_is_refused() -> None:
    df = pd.DataFrame({"a": [1.0, 2.0, np.nan], "b": [2.0, 1.0, np.nan]})
    with pytest.raises(ReliabilityError, match=r"only 2 row\(s\) answer any of its items"):
        cronbach_alpha(df, scale="s")


def test_pair_never_answered_together_is_named() -> None:
    df = pd.DataFrame(
        {
            "a": [1.0, 2.0, 3.0, 4.0, np.nan, np.nan, np.nan],
            "b": [np.nan, np.nan, np.nan, 1.0, 2.0, 5.0, 4.0],
            "c": [1.0, 2.0, 4.0, 3.0, 2.0, 5.0, 4.0],
        }
    )
    with pytest.raises(
        ReliabilityError, match=r"items 'a' and 'b' are answered together in only 1"
    ):
        cronbach_alpha(df, scale="s")


def test_text_item_is_refused() -> None:
    df = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": ["x", "y", "z"]})
    with pytest.raises(ReliabilityError, match=r"item 'b' is not numeric"):
        cronbach_alpha(df, scale="s")


def bfi_study(extra_scales: tuple[Scale, ...] = ()) -> Study:
    """A study declaring bfi's agreeableness and conscientiousness items on a 1-6 scale."""
    choices = tuple(Choice(code=c, label=str(c)) for c in range(1, 7))
    rows = tuple(
        MatrixRow(id=i, text=i) for i in SCALES["agreeableness"] + SCALES["conscientiousness"]
    )
    matrix = Item(id="bfi", type=ItemType.MATRIX, text="bfi", choices="six", rows=rows)
    return Study(
        id="bfi",
        title="bfi",
        choice_lists={"six": choices},
        pages=(Page(id="p", items=(matrix,)),),
        scales=(
            Scale(
                id="agree",
                label={"nl": "Vriendelijkheid", "en": "Agreeableness"},
                items=SCALES["agreeableness"],
                reverse=("a1",),
            ),
            Scale(
                id="consc", label="Consc", items=SCALES["conscientiousness"], reverse=("c4", "c5")
            ),
            *extra_scales,
        ),
    )


def test_reliability_table_covers_every_scale_with_psych_values() -> None:
    table = reliability_table(bfi_study(), DATA)
    assert table["scale"].tolist() == ["agree", "consc"]
    assert table["label"].tolist()[0] == "Vriendelijkheid"
    ref_a = REFERENCE["agreeableness"]["alpha"]["total"]
    ref_c = REFERENCE["conscientiousness"]["alpha"]["total"]
    close(table.loc[0, "raw_alpha"], ref_a["raw_alpha"], "agree raw")
    close(table.loc[1, "std_alpha"], ref_c["std.alpha"], "consc std")
    close(table.loc[1, "omega_tot"], REFERENCE["conscientiousness"]["omega"]["omega.tot"], "omega")
    assert (table["missing"] == "pairwise").all()


def test_reliability_table_notes_a_scale_it_cannot_assess() -> None:
    study = bfi_study((Scale(id="solo", label="Solo", items=("a2",)),))
    with pytest.raises(ReliabilityError, match=r"scale 'solo' has 1 item"):
        reliability_table(study, DATA)
    table = reliability_table(study, DATA, on_error="note")
    assert table.loc[2, "problem"] == "scale 'solo' has 1 item(s); reliability needs at least 2"
    assert math.isnan(table.loc[2, "raw_alpha"])
    assert pd.isna(table.loc[0, "problem"])


def test_reliability_of_a_scale_missing_from_the_data_is_a_clear_error() -> None:
    with pytest.raises(ReliabilityError, match=r"scale 'agree'.*a1 not in the data"):
        reliability_table(bfi_study(), DATA.drop(columns=["a1"]))


@pytest.mark.parametrize("name", WITH_OMEGA)
def test_omega_total_equals_psych_one_factor_minres(name: str) -> None:
    x, reverse = keyed(name)
    ref = REFERENCE[name]["omega"]
    result = mcdonald_omega(x, reverse=reverse, scale=name).to_dict()
    assert (result["fm"], result["nfactors"], result["missing"]) == ("minres", 1, "pairwise")
    assert result["converged"] and not result["heywood"]
    for key in ("omega.tot", "omega_h", "alpha", "G6"):
        close(result[key], ref[key], f"{name} {key}")
    for key in ("loadings", "h2", "u2"):
        np.testing.assert_allclose(result[key], ref[key], atol=TOL, err_msg=f"{name} {key}")


def test_minres_recovers_the_loadings_of_an_exact_one_factor_matrix() -> None:
    loadings = np.array([0.8, 0.7, 0.6, 0.5])
    r = np.outer(loadings, loadings)
    np.fill_diagonal(r, 1.0)
    solution = minres(r)
    np.testing.assert_allclose(solution.loadings[:, 0], loadings, atol=1e-6)
    assert solution.objective < 1e-10


def test_omega_uses_the_pairwise_correlation_and_alpha_std_the_pairwise_covariance() -> None:
    # The two psych conventions differ on data with holes; both are matched, so both
    # numbers must come out different here, each equal to its own reference.
    x, reverse = keyed("conscientiousness")
    omega_alpha = mcdonald_omega(x, reverse=reverse).alpha
    std_alpha = cronbach_alpha(x, reverse=reverse).std_alpha
    assert abs(omega_alpha - std_alpha) > 1e-5
    close(omega_alpha, REFERENCE["conscientiousness"]["omega"]["alpha"], "omega alpha")


def test_scale_reliability_reports_alpha_and_omega_with_missing_handling() -> None:
    study = bfi_study()
    result = scale_reliability(study, DATA, study.scales[0]).to_dict()
    assert result["missing"] == "pairwise"
    assert result["alpha"]["missing"] == result["omega"]["missing"] == "pairwise"
    assert result["alpha"]["reverse"] == ["a1"]
    close(result["omega"]["omega.tot"], REFERENCE["agreeableness"]["omega"]["omega.tot"], "omega")


def test_omega_of_a_zero_variance_item_is_refused() -> None:
    df = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "b": [2.0, 2.0, 2.0, 2.0], "c": [1, 3, 2, 4]})
    with pytest.raises(ReliabilityError, match=r"item 'b' has zero variance"):
        mcdonald_omega(df, scale="s")


def test_alpha_if_dropped_of_a_two_item_scale_is_not_a_number() -> None:
    # psych prints a covariance ratio there; a single item has no alpha, so we say NaN.
    x, _ = keyed("agreeableness_2")
    drops = cronbach_alpha(x).alpha_drop
    assert all(math.isnan(d.raw_alpha) and math.isnan(d.std_alpha) for d in drops)


def test_omega_of_a_two_item_scale_is_refused_and_left_out_of_the_table() -> None:
    x, _ = keyed("agreeableness_2")
    with pytest.raises(ReliabilityError, match=r"omega needs at least 3"):
        mcdonald_omega(x, scale="pair")
    study = bfi_study((Scale(id="pair", label="Pair", items=SCALES["agreeableness_2"]),))
    table = reliability_table(study, DATA)
    assert math.isnan(table.loc[2, "omega_tot"])
    close(
        table.loc[2, "raw_alpha"], REFERENCE["agreeableness_2"]["alpha"]["total"]["raw_alpha"], ""
    )


def test_complete_data_alpha_equals_the_textbook_formula() -> None:
    # Independent of psych: k/(k-1) * (1 - sum of item variances / variance of the sum).
    x, _ = keyed("agreeableness")
    complete = x.dropna().to_numpy()
    k = complete.shape[1]
    textbook = (
        k / (k - 1) * (1 - complete.var(axis=0, ddof=1).sum() / complete.sum(axis=1).var(ddof=1))
    )
    assert cronbach_alpha(complete, reverse=()).raw_alpha == pytest.approx(textbook, abs=1e-12)


def test_heywood_case_is_flagged() -> None:
    # r12 r13 / r23 = 0.81 / 0.65 > 1: the first item's communality is pushed past 1.
    r = np.array([[1.0, 0.9, 0.9], [0.9, 1.0, 0.65], [0.9, 0.65, 1.0]])
    rng = np.random.default_rng(7)
    x = rng.multivariate_normal(np.zeros(3), r, size=2000)
    result = mcdonald_omega(x, scale="h")
    assert result.heywood
    assert result.items == ("V1", "V2", "V3")
    ordinary, _ = keyed("agreeableness_3")
    assert not mcdonald_omega(ordinary).heywood
