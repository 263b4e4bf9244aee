"""The analysis plan recovers the simulator's true structural paths and indirect effects: each
true value lies inside the estimated 95% interval of the standardised solution (the metric of
the simulator's `std` values; latent variables there have variance 1)."""

from __future__ import annotations

from typing import Any

import pytest

from vakstem.analysis.plan import PlanOptions, data_from_records, run_plan, simulated_records
from vakstem.export.codebook import find_study_file
from vakstem.instrument.loader import load_study_file

#: Model names of the structural model → names in the simulator's population model. pa_1 is
#: left out: it is the observed yes/no gate of the latent `pa_exists`, a different metric.
LATENT = {"PROF": "prof", "PERF": "perf", "SCH": "sch", "CO": "co", "BEO": "beo", "BR": "br"}
LATENT |= {"WD": "wd", "cl_2": "caseload"}
COVARIATES = ("ervaring", "opl_richting_2", "opl_richting_3", "opl_richting_4")
#: Indirect effects of the plan and the exogenous variables whose paths they multiply.
INDIRECT = {
    "ind_sch": ("sch",),
    "ind_co": ("co",),
    "ind_beo": ("beo",),
    "ind_A": ("sch", "co"),
    "ind_O": ("br",),
}


@pytest.fixture(scope="module")
def recovered() -> tuple[dict[str, Any], dict[str, Any]]:
    study = load_study_file(find_study_file("klantmanagers"))
    records, truth = simulated_records(study, 5000, seed=12, mess=False)
    results = run_plan(
        study,
        data_from_records(study, records),
        PlanOptions(seed=7, bootstrap=0, steps=("quality", "scores", "structural")),
    ).to_dict()
    model = results["steps"]["structural"]["models"][0]
    assert model["status"] == "ok", model.get("message")
    return model, truth


def _true_paths(truth: dict[str, Any]) -> dict[tuple[str, str], float]:
    return {(p["lhs"], p["rhs"]): p["std"] for p in truth["paths"] if p["op"] == "~"}


def test_true_structural_paths_lie_inside_the_95_percent_intervals(
    recovered: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    model, truth = recovered
    true = _true_paths(truth)
    checked = []
    for row in model["regressions"]:
        lhs = LATENT[row["lhs"]]
        rhs = LATENT.get(row["rhs"], row["rhs"] if row["rhs"] in COVARIATES else None)
        if rhs is None:
            continue
        # A path the population model does not have is a true zero (PERF ~ SCH, CO, BEO).
        value = true.get((lhs, rhs), 0.0)
        checked.append(row["rhs"])
        assert row["std.ci.lower"] <= value <= row["std.ci.upper"], (
            f"{row['lhs']} ~ {row['rhs']}: true β {value} outside "
            f"[{row['std.ci.lower']:.3f}, {row['std.ci.upper']:.3f}] "
            f"(estimate {row['std.all']:.3f})"
        )
    # Every path but the two of pa_1: AMO, workload, caseload, covariates, mediator, zeros.
    assert {"SCH", "CO", "BEO", "BR", "WD", "cl_2", "PROF", *COVARIATES} <= set(checked)
    assert len(checked) == len(model["regressions"]) - 2 == 17


def test_true_indirect_effects_lie_inside_the_95_percent_intervals(
    recovered: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    model, truth = recovered
    true = _true_paths(truth)
    b = true[("perf", "prof")]
    defined = {row["lhs"]: row for row in model["defined"]}
    for name, sources in INDIRECT.items():
        # Standardised indirect effect: the sum of the standardised a-paths times b.
        value = sum(true[("prof", s)] for s in sources) * b
        row = defined[name]
        assert row["std.ci.lower"] <= value <= row["std.ci.upper"], (
            f"{name}: true {value:.4f} outside [{row['std.ci.lower']:.3f}, "
            f"{row['std.ci.upper']:.3f}] (estimate {row['std.all']:.3f})"
        )
    # Discretion's indirect effect is the strongest, as in the population.
    assert max(INDIRECT, key=lambda n: defined[n]["std.all"]) in ("ind_O", "ind_A")
    assert defined["ind_O"]["std.all"] > defined["ind_sch"]["std.all"]


def test_simulator_truth_uses_variance_one_latents_so_est_equals_std(
    recovered: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    # The comparison above relies on this: latent paths are the same in both metrics.
    _model, truth = recovered
    for path in truth["paths"]:
        if path["op"] == "~" and path["rhs"] in LATENT.values():
            assert path["std"] == pytest.approx(path["est"], abs=1e-6)
