"""The invariance step fits a group with fewer rows than the model's free parameters (the model
is identified; the group's data are few) with a caution in the results and the report, and
leaves out only what cannot be estimated or is below the plan's minimum group size."""

from __future__ import annotations

from vakstem.analysis.plan import PlanOptions, data_from_records, run_plan, simulated_records
from vakstem.analysis.report import render_report
from vakstem.export.codebook import find_study_file
from vakstem.instrument.loader import load_study_file


def test_a_small_but_estimable_group_is_compared_with_a_caution() -> None:
    study = load_study_file(find_study_file("klantmanagers"))
    # The demo's pilot data: org_type 2 has about a hundred analysed respondents, fewer than
    # the 126 free parameters per group of the 30-indicator CFA.
    records, _truth = simulated_records(study, 500, seed=20261126, mess=True)
    data = data_from_records(study, records)
    results = run_plan(
        study, data, PlanOptions(bootstrap=0, steps=("quality", "scores", "invariance"))
    ).to_dict()
    tests = {(t["model"], t["group"]): t for t in results["steps"]["invariance"]["tests"]}
    small = tests[("cfa_professioneel", "org_type")]
    assert small["status"] == "ok", small.get("message")
    assert [s["step"] for s in small["steps"]] == ["configural", "metric", "scalar"]
    sizes = small["group_sizes"]
    kept = {k: v for k, v in sizes.items() if k not in small["left_out"]}
    assert len(kept) == 2 and min(kept.values()) < 126
    (caution,) = small["warnings"]
    assert "for 126 free parameters per group" in caution
    assert "read the comparison with care" in caution
    # The group below the plan's minimum size is still left out, and says so.
    assert small["left_out"] and all(v < 50 for v in small["left_out"].values())
    assert tests[("cfa_hrm", "org_type")]["warnings"] == []
    html = render_report(results)
    assert "Let op / note: group " in html and "for 126 free parameters per group" in html
