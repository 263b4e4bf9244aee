"""Intervals of the standardised solution: delta-method standard errors follow the defined
parameters' algebra, and the bootstrap reports each draw and is reproducible by its seed."""

from __future__ import annotations

import pytest

from vakstem.analysis.plan import (
    bootstrap_intervals,
    data_from_records,
    prepare_analysis_frame,
    simulated_records,
    standardized_intervals,
)
from vakstem.analysis.sem.api import FitResult, fit
from vakstem.export.codebook import find_study_file
from vakstem.instrument.loader import load_study_file

MODEL = """
SCH =~ sch_1 + sch_2 + sch_3
BR =~ br_1 + br_2 + br_3
BR ~ a*SCH
twice := 2*a
"""


@pytest.fixture(scope="module")
def fitted() -> FitResult:
    study = load_study_file(find_study_file("klantmanagers"))
    records, _truth = simulated_records(study, 400, seed=6, mess=False)
    frame = data_from_records(study, records).frame
    analysis = prepare_analysis_frame(study, frame[frame["status"] == "completed"])
    return fit(MODEL, analysis, estimator="ML", missing="listwise")


def test_delta_method_standard_error_of_a_defined_parameter_follows_its_formula(
    fitted: FitResult,
) -> None:
    intervals = standardized_intervals(fitted)
    path = intervals["BR ~ SCH"]
    twice = intervals["twice := 2*a"]
    assert twice["std.se"] == pytest.approx(2 * path["std.se"], rel=1e-4)
    assert path["std.se"] > 0
    row = fitted.parameters.query("op == '~'").iloc[0]
    assert path["std.ci.lower"] < row["std.all"] < path["std.ci.upper"]


def test_bootstrap_reports_every_draw_and_repeats_with_the_same_seed(fitted: FitResult) -> None:
    calls: list[tuple[int, int]] = []
    first = bootstrap_intervals(fitted, 5, 11, lambda done, total: calls.append((done, total)))
    assert calls == [(i, 5) for i in range(1, 6)]
    again = bootstrap_intervals(fitted, 5, 11)
    other = bootstrap_intervals(fitted, 5, 12)
    assert first["intervals"] == again["intervals"]
    assert first["intervals"] != other["intervals"]
    assert first["about"]["successful"] == 5 and first["about"]["seed"] == 11
    twice = first["intervals"]["twice := 2*a"]
    path = first["intervals"]["BR ~ SCH"]
    assert twice["boot.std.lower"] == pytest.approx(2 * path["boot.std.lower"])
    assert twice["boot.ci.upper"] == pytest.approx(2 * path["boot.ci.upper"])
