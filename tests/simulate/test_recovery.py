"""End to end: the analysis plan's structural model, fitted by Vakstem's SEM engine to simulated
data, recovers the true standardised paths and indirect effects within sampling error.

The plan measures professional action by the nine dimension scores, the HR practices and
workload by their items, performance by its items; the true values are the latent paths of the
population model. 5-point answers attenuate correlations slightly, so the check allows Z = 4.5
standard errors (the standardised SE taken as the unstandardised SE scaled by std/est).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vakstem.analysis.scoring import scale_scores
from vakstem.analysis.sem.api import fit
from vakstem.instrument.schema import Study
from vakstem.simulate import Population, draw_population, true_values

Z = 4.5
#: Paths of the plan's model (lhs, rhs) and the population's names for them.
COMPARED = {
    ("PROF", "BR"): ("prof", "br"),
    ("PROF", "SCH"): ("prof", "sch"),
    ("PROF", "CO"): ("prof", "co"),
    ("PROF", "BEO"): ("prof", "beo"),
    ("PROF", "WD"): ("prof", "wd"),
    ("PROF", "cl_2"): ("prof", "caseload"),
    ("PERF", "PROF"): ("perf", "prof"),
    ("PERF", "BR"): ("perf", "br"),
    ("PERF", "WD"): ("perf", "wd"),
    ("PERF", "cl_2"): ("perf", "caseload"),
}


def model_data(study: Study, frame: pd.DataFrame) -> pd.DataFrame:
    """The response table as the plan's model reads it (see the study's model_variables)."""
    settings = study.analysis.settings["model_variables"]
    scores = scale_scores(study, frame)[settings["scale_scores"]]
    numeric = frame[[c for c in frame.columns if not c.startswith("_")]]
    numeric = numeric.apply(pd.to_numeric, errors="coerce").astype(float)
    numeric.loc[numeric["pa_1"] == 9, "pa_1"] = np.nan
    for name, rule in settings["rescale"].items():
        numeric[name] = numeric[name] * rule["factor"]
    for name, rule in settings["dummies"].items():
        for code, column in zip(rule["codes"], rule["names"], strict=True):
            numeric[column] = (numeric[name] == code).astype(float)
    return numeric.join(scores)


@pytest.mark.slow
def test_the_plans_structural_model_recovers_the_true_paths(
    study: Study, population: Population
) -> None:
    frame = draw_population(study, population, 12_000, seed=3, organisations=200, mess=False)
    spec = next(m for m in study.analysis.models if m.id == "sem_amo")
    result = fit(spec.syntax, model_data(study, frame), estimator="ML", missing="ml")
    table = result.parameters
    truth = true_values(study, population)
    true_std = {(p["lhs"], p["rhs"]): p["std"] for p in truth["paths"] if p["op"] == "~"}
    checked = []
    for (lhs, rhs), key in COMPARED.items():
        row = table[(table["lhs"] == lhs) & (table["op"] == "~") & (table["rhs"] == rhs)].iloc[0]
        se_std = float(row["se"]) * abs(float(row["std.all"]) / float(row["est"]))
        assert abs(row["std.all"] - true_std[key]) <= Z * se_std, (lhs, rhs, row["std.all"])
        checked.append(rhs)
    for name in ("ind_O", "ind_A"):
        row = table[(table["lhs"] == name) & (table["op"] == ":=")].iloc[0]
        se_std = float(row["se"]) * abs(float(row["std.all"]) / float(row["est"]))
        assert abs(row["std.all"] - truth["indirect"][name]) <= Z * se_std, name
    assert len(checked) == len(COMPARED)
    # Discretion is the strongest path in the estimates too.
    prof = table[(table["lhs"] == "PROF") & (table["op"] == "~")]
    assert prof.loc[prof["std.all"].abs().idxmax(), "rhs"] == "BR"
