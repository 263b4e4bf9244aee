"""A plan model with `cluster: true` is fitted with standard errors, test and bootstrap robust to
the nesting in the plan's cluster variable, the results and the report say so, and a study
file that asks for it without MLR or without a cluster variable is refused by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from vakstem.analysis.plan import PlanOptions, data_from_records, run_plan, simulated_records
from vakstem.analysis.report import render_report
from vakstem.export.codebook import find_study_file
from vakstem.instrument.loader import StudyFileError, load_study_file, load_study_text
from vakstem.instrument.schema import Study

STEPS = ("quality", "scores", "measurement", "structural")


@pytest.fixture(scope="module")
def study() -> Study:
    return load_study_file(find_study_file("klantmanagers"))


def _with_cluster(study: Study, model_id: str) -> Study:
    models = tuple(
        m.model_copy(update={"cluster": True}) if m.id == model_id else m
        for m in study.analysis.models
    )
    analysis = study.analysis.model_copy(update={"models": models})
    return study.model_copy(update={"analysis": analysis})


def test_a_cluster_model_reports_cluster_robust_errors_and_the_report_says_so(
    study: Study,
) -> None:
    records, _truth = simulated_records(study, 400, seed=8, mess=False)
    data = data_from_records(study, records)
    options = PlanOptions(bootstrap=20, seed=1, steps=STEPS)
    plain = run_plan(study, data, options).to_dict()["steps"]
    clustered_study = _with_cluster(_with_cluster(study, "sem_amo"), "cfa_hrm")
    clustered = run_plan(clustered_study, data, options).to_dict()["steps"]

    before = {m["id"]: m for m in plain["structural"]["models"]}["sem_amo"]
    after = {m["id"]: m for m in clustered["structural"]["models"]}["sem_amo"]
    assert before["status"] == after["status"] == "ok"
    assert before["cluster"] is None
    assert after["cluster"]["variable"] == "organisatie"
    # Simulated klantmanagers work in a few dozen organisations (plus "other" ones alone).
    assert 10 < after["cluster"]["clusters"] < after["nobs"]
    b_se = {(p["lhs"], p["rhs"]): p["se"] for p in before["regressions"]}
    a_se = {(p["lhs"], p["rhs"]): p["se"] for p in after["regressions"]}
    assert b_se.keys() == a_se.keys()
    assert any(abs(a_se[k] - b_se[k]) > 1e-4 for k in b_se)
    b_est = {(p["lhs"], p["rhs"]): p["est"] for p in before["regressions"]}
    a_est = {(p["lhs"], p["rhs"]): p["est"] for p in after["regressions"]}
    assert all(abs(a_est[k] - b_est[k]) < 1e-4 for k in b_est)

    measured = {m["id"]: m for m in clustered["measurement"]["models"]}
    assert measured["cfa_hrm"]["cluster"]["variable"] == "organisatie"
    assert measured["cfa_professioneel"].get("cluster") is None

    html = render_report(run_plan(clustered_study, data, options).to_dict())
    assert "sem_amo: standard errors, test and bootstrap robust to the clustering" in html
    assert "cfa_hrm: standaardfouten, toets en bootstrap robuust" in html
    assert "cfa_professioneel: standard errors" not in html


def _study_text(study_file: str, old: str, new: str) -> str:
    text = Path(study_file).read_text(encoding="utf-8")
    assert old in text
    return text.replace(old, new, 1)


def test_cluster_without_mlr_or_without_a_cluster_variable_is_refused_by_name() -> None:
    path = str(find_study_file("klantmanagers"))
    model = "    - id: sem_amo\n"
    assert model in Path(path).read_text(encoding="utf-8")
    with_ml = _study_text(path, model, model + "      cluster: true\n")
    # sem_amo's own `estimator: MLR`, the first after its id, becomes ML.
    estimator = with_ml.index("      estimator: MLR\n", with_ml.index(model))
    with_ml = with_ml[:estimator] + with_ml[estimator:].replace("MLR", "ML", 1)
    with pytest.raises(StudyFileError, match=r"model 'sem_amo': cluster-robust .* estimator: MLR"):
        load_study_text(with_ml)
    without = _study_text(path, model, model + "      cluster: true\n")
    without = without.replace("  cluster: organisatie\n", "", 1)
    without = without.replace("      cluster: organisatie\n", "", 1)
    with pytest.raises(StudyFileError, match="cluster: true needs the plan's cluster variable"):
        load_study_text(without)
    # With MLR (the default) and the plan's cluster variable it loads.
    fine = load_study_text(_study_text(path, model, model + "      cluster: true\n"))
    assert {m.id: m.cluster for m in fine.analysis.models}["sem_amo"] is True
