"""The population model: the shipped one fits its study; a broken one is refused with the field
and the problem named, before anything is drawn."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from vakstem.instrument.schema import Study
from vakstem.simulate.model import build
from vakstem.simulate.population import PopulationError, check, parse_population
from vakstem.studies.klantmanagers import POPULATION_FILE


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    data = yaml.safe_load(POPULATION_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def refused(study: Study, data: dict[str, Any]) -> str:
    with pytest.raises(PopulationError) as info:
        check(parse_population(data), study)
    return str(info.value)


def test_the_shipped_population_fits_its_study(study: Study, raw: dict[str, Any]) -> None:
    population = parse_population(raw)
    check(population, study)
    model = build(population)
    # Latent variables have variance 1 in the population, as the model file promises.
    total = model.cov_total()
    assert [round(float(v), 9) for v in total.diagonal()] == [1.0] * len(model.names)


def test_wrong_number_of_loadings_is_named(study: Study, raw: dict[str, Any]) -> None:
    data = copy.deepcopy(raw)
    data["scales"]["br"]["loadings"] = [0.8, 0.7]
    assert "scales.br.loadings: 2 values for the scale's 5 items" in refused(study, data)


def test_unknown_factor_and_scale_are_named(study: Study, raw: dict[str, Any]) -> None:
    data = copy.deepcopy(raw)
    data["scales"]["kv"]["factor"] = "kennis"
    data["scales"]["xyz"] = {"factor": "kv", "loadings": [0.5], "intercepts": [0.0]}
    message = refused(study, data)
    assert "scales.kv.factor: unknown latent variable 'kennis'" in message
    assert "scales.xyz: the study's analysis plan has no scale 'xyz'" in message


def test_impossible_correlations_are_refused(study: Study, raw: dict[str, Any]) -> None:
    data = copy.deepcopy(raw)
    data["correlations"].update({"sch ~~ co": 0.95, "sch ~~ br": 0.95, "co ~~ br": -0.95})
    assert "not positive definite" in refused(study, data)


def test_paths_explaining_more_than_all_variance_are_refused(
    study: Study, raw: dict[str, Any]
) -> None:
    data = copy.deepcopy(raw)
    data["structural"]["prof"]["br"] = 0.99
    data["structural"]["prof"]["sch"] = 0.9
    with pytest.raises(PopulationError, match="prof: its predictors explain"):
        build(parse_population(data))


def test_probabilities_must_add_up_and_codes_must_exist(study: Study, raw: dict[str, Any]) -> None:
    data = copy.deepcopy(raw)
    data["background"]["functie"] = {1: 0.5, 2: 0.2}
    data["background"]["contract"] = {1: 0.9, 7: 0.1}
    message = refused(study, data)
    assert "background.functie: the probabilities do not add up to 1" in message
    assert "background.contract: codes 7 are not in its choice list" in message


def test_out_of_range_values_are_located(raw: dict[str, Any]) -> None:
    data = copy.deepcopy(raw)
    data["mess"]["dropout"] = 1.5
    data["scales"]["kv"]["loadings"] = [1.2, 0.5, -0.5]
    with pytest.raises(PopulationError) as info:
        parse_population(data)
    message = str(info.value)
    assert "mess.dropout" in message and "scales.kv.loadings.0" in message


def test_a_model_for_another_study_is_refused(study: Study, raw: dict[str, Any]) -> None:
    data = copy.deepcopy(raw)
    data["study"] = "voorbeeld"
    assert "the model is for 'voorbeeld', not 'klantmanagers'" in refused(study, data)


def test_not_a_mapping_is_refused() -> None:
    with pytest.raises(PopulationError, match="expected a mapping"):
        parse_population(["study"])
