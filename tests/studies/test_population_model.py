"""The population model beside the klantmanager study (population.yaml): it covers every
variable of the questionnaire, matches the analysis plan's scales, and is a valid model
(positive definite correlations, explained variance below one, discretion the strongest path,
organisation ICCs in the range STUDY.md asks for)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import yaml
from scipy.stats import norm

from vakstem.instrument.loader import load_study_file
from vakstem.instrument.schema import Study
from vakstem.studies.klantmanagers import POPULATION_FILE, STUDY_FILE


@pytest.fixture(scope="module")
def study() -> Study:
    return load_study_file(STUDY_FILE)


@pytest.fixture(scope="module")
def population() -> dict[str, Any]:
    data = yaml.safe_load(POPULATION_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _correlation_matrix(population: dict[str, Any]) -> tuple[list[str], np.ndarray]:
    names = list(population["exogenous"])
    matrix = np.eye(len(names))
    for pair, value in population["correlations"].items():
        left, right = (part.strip() for part in pair.split("~~"))
        i, j = names.index(left), names.index(right)
        matrix[i, j] = matrix[j, i] = value
    return names, matrix


def _categorical_variance(probabilities: dict[int, float], effects: dict[int, float]) -> float:
    mean = sum(p * effects.get(code, 0.0) for code, p in probabilities.items())
    return sum(p * (effects.get(code, 0.0) - mean) ** 2 for code, p in probabilities.items())


def _covariate_variance(population: dict[str, Any], outcome: str) -> float:
    total = 0.0
    by_variable: dict[str, dict[int, float]] = {}
    for path in population["covariate_paths"].get(outcome, []):
        var = path["variable"]
        probabilities = population["background"][var]
        if path["per"] == "code step":
            by_variable[var] = {code: path["effect"] * code for code in probabilities}
        else:
            code = int(path["per"].split()[1])
            by_variable.setdefault(var, {})[code] = path["effect"]
    for var, effects in by_variable.items():
        total += _categorical_variance(population["background"][var], effects)
    return total


def test_population_model_belongs_to_the_study(population: dict[str, Any], study: Study) -> None:
    assert population["study"] == study.id


def test_every_questionnaire_variable_has_a_generation_rule(
    population: dict[str, Any], study: Study
) -> None:
    covered = {"toestemming", "organisatie", "org_type", "org_code"}
    covered |= set(population["background"]) - {"language"}
    covered |= set(population["single_items"]) | set(population["open_questions"])
    for scale in study.scales:
        covered |= set(scale.items)
    assert set(study.variables()) - covered == set()
    assert covered - set(study.variables()) == set()


def test_scales_match_the_plan_with_negative_loadings_exactly_for_reverse_keyed_items(
    population: dict[str, Any], study: Study
) -> None:
    assert set(population["scales"]) == {s.id for s in study.scales}
    for scale in study.scales:
        spec = population["scales"][scale.id]
        assert len(spec["loadings"]) == len(scale.items) == len(spec["intercepts"]), scale.id
        for item, loading in zip(scale.items, spec["loadings"], strict=True):
            assert 0.3 <= abs(loading) < 1, (scale.id, item)
            assert (loading < 0) == (item in scale.reverse), (scale.id, item)


def test_every_factor_named_is_defined(population: dict[str, Any]) -> None:
    known = set(population["exogenous"]) | set(population["dimensions"]) | {"prof", "perf"}
    factors = {spec["factor"] for spec in population["scales"].values()}
    factors |= {s["factor"] for s in population["single_items"].values() if "factor" in s}
    factors |= {s["latent"] for s in population["single_items"].values() if "latent" in s}
    factors |= set(population["organisations"]["icc"])
    for outcome, paths in population["structural"].items():
        factors |= {outcome, *paths}
    assert factors <= known


def test_answer_scales_have_increasing_thresholds_for_every_list_used(
    population: dict[str, Any], study: Study
) -> None:
    items = {v: item for _p, item in study.items() for v in item.variables()}
    used = {items[v].choices for s in study.scales for v in s.items}
    assert used <= set(population["answer_scales"])
    for name, thresholds in population["answer_scales"].items():
        substantive = [c for c in study.choice_lists[name] if not c.missing]
        assert len(thresholds) == len(substantive) - 1, name
        assert thresholds == sorted(thresholds), name


def test_exogenous_correlations_form_a_valid_correlation_matrix(
    population: dict[str, Any],
) -> None:
    _names, matrix = _correlation_matrix(population)
    assert np.all(np.linalg.eigvalsh(matrix) > 0.05)


def test_explained_variance_of_the_outcomes_stays_below_one(population: dict[str, Any]) -> None:
    names, sigma = _correlation_matrix(population)
    prof = population["structural"]["prof"]
    gamma = np.array([prof.get(n, 0.0) for n in names])
    r2_prof = float(gamma @ sigma @ gamma) + _covariate_variance(population, "prof")
    assert 0.1 < r2_prof < 0.6
    # perf on prof and exogenous variables: cov(prof, x) = sigma @ gamma; var(prof) = 1
    perf = population["structural"]["perf"]
    beta = np.array([perf.get(n, 0.0) for n in names])
    b = perf["prof"]
    r2_perf = float(b**2 + beta @ sigma @ beta + 2 * b * (beta @ sigma @ gamma))
    assert 0.1 < r2_perf < 0.6


def test_discretion_is_the_strongest_path_and_the_strongest_indirect_effect(
    population: dict[str, Any],
) -> None:
    prof = population["structural"]["prof"]
    strongest = max(prof, key=lambda k: abs(prof[k]))
    assert strongest == "br"
    b = population["structural"]["perf"]["prof"]
    indirect = {k: v * b for k, v in prof.items() if k in {"sch", "co", "pa_exists", "beo", "br"}}
    assert max(indirect, key=lambda k: abs(indirect[k])) == "br"
    assert population["structural"]["perf"]["caseload"] < 0  # high caseloads harm performance


def test_organisation_iccs_are_in_the_range_of_the_design(population: dict[str, Any]) -> None:
    icc = population["organisations"]["icc"]
    assert 0.05 <= icc["prof"] <= 0.15 and 0.05 <= icc["perf"] <= 0.15
    assert all(0 < value <= 0.3 for value in icc.values())


def test_background_probabilities_sum_to_one_over_existing_codes(
    population: dict[str, Any], study: Study
) -> None:
    for var, probabilities in population["background"].items():
        assert sum(probabilities.values()) == pytest.approx(1.0), var
        if var == "language":
            assert set(probabilities) <= set(study.languages)
            continue
        item = study.item(var)
        assert item is not None, var
        assert set(probabilities) <= {c.code for c in study.choices_of(item)}, var
    org_type = population["organisations"]["org_type"]
    assert sum(org_type.values()) == pytest.approx(1.0)


def test_performance_agreement_threshold_gives_the_stated_share(
    population: dict[str, Any],
) -> None:
    spec = population["single_items"]["pa_1"]
    assert 1 - norm.cdf(spec["threshold"]) == pytest.approx(0.65, abs=0.005)


def test_mess_rates_are_shares_that_leave_most_responses_clean(
    population: dict[str, Any],
) -> None:
    mess = population["mess"]
    rates = {k: v for k, v in mess.items() if isinstance(v, float)}
    assert set(rates) >= {
        "consent_refused", "dropout", "item_nonresponse", "dont_know", "speeders",
        "straightliners", "duplicates", "test_responses",
    }  # fmt: skip
    assert all(0 < v <= 0.2 for v in rates.values())
    assert sum(rates.values()) < 0.4
    low, high = mess["speeder_time_fraction"]
    assert 0 < low < high < 1 / 3  # a speeder is under a third of the median (STUDY.md step 1)
