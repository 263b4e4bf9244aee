"""The pure generator against the population's exact values, without a database.

Tolerances come from sampling error: a sample correlation has SE (1 - rho^2) / sqrt(n), inflated
by the design effect of organisation clustering; an ICC has the Donner-Koval SE. Each check
allows Z = 4.5 standard errors (a false alarm about once in 150,000 comparisons), and the seed is
fixed, so the tests are deterministic.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import multivariate_normal

from vakstem.analysis.scoring import scale_scores
from vakstem.instrument.schema import ItemType, Study
from vakstem.simulate import (
    Population,
    SimulationError,
    draw_population,
    true_values,
)
from vakstem.simulate.truth import bivariate_normal_cdf
from vakstem.studies.klantmanagers.organisations import OTHER_ORGANISATION, load_municipalities

Z = 4.5
N_LARGE = 20_000
K_LARGE = 300


@pytest.fixture(scope="module")
def truth(study: Study, population: Population) -> dict[str, object]:
    return true_values(study, population)


@pytest.fixture(scope="module")
def clean(study: Study, population: Population) -> pd.DataFrame:
    return draw_population(study, population, N_LARGE, seed=11, organisations=K_LARGE, mess=False)


@pytest.fixture(scope="module")
def messy(study: Study, population: Population) -> pd.DataFrame:
    return draw_population(study, population, N_LARGE, seed=12, organisations=K_LARGE)


def anova_icc(values: pd.Series, cluster: pd.Series) -> tuple[float, float, int]:
    """ICC(1) from the one-way ANOVA with unequal cluster sizes: (icc, n0, clusters)."""
    data = pd.DataFrame({"x": values.astype(float), "g": cluster}).dropna()
    groups = data.groupby("g")["x"]
    sizes = groups.size()
    k, n = len(sizes), len(data)
    means = groups.mean()
    grand = data["x"].mean()
    msb = float((sizes * (means - grand) ** 2).sum() / (k - 1))
    msw = float(((data["x"] - groups.transform("mean")) ** 2).sum() / (n - k))
    n0 = (n - float((sizes**2).sum()) / n) / (k - 1)
    return (msb - msw) / (msb + (n0 - 1) * msw), n0, k


def icc_se(rho: float, n0: float, k: int) -> float:
    """Donner & Koval's large-sample SE of the ANOVA ICC."""
    return math.sqrt(2 * (1 - rho) ** 2 * (1 + (n0 - 1) * rho) ** 2 / (n0 * (n0 - 1) * (k - 1)))


def effective_cluster_size(cluster: pd.Series) -> float:
    """sum(n_k^2) / N: the cluster size that enters design effects with unequal clusters."""
    sizes = cluster.value_counts()
    return float((sizes**2).sum() / sizes.sum())


def test_bivariate_normal_cdf_matches_scipy() -> None:
    for h, k, rho in [(0.3, -0.5, 0.7), (1.2, 0.7, -0.6), (-2.0, 1.0, 0.85), (2.5, 2.5, 0.8)]:
        expected = multivariate_normal([0, 0], [[1, rho], [rho, 1]]).cdf([h, k])
        got = float(bivariate_normal_cdf(np.array(h), np.array(k), np.array(rho)))
        assert got == pytest.approx(expected, abs=1e-9)


def test_same_seed_gives_identical_respondents(study: Study, population: Population) -> None:
    first = draw_population(study, population, 300, seed=5)
    second = draw_population(study, population, 300, seed=5)
    pd.testing.assert_frame_equal(first, second)
    other = draw_population(study, population, 300, seed=6)
    assert not first.drop(columns=["_kind"]).equals(other.drop(columns=["_kind"]))


def test_scale_score_correlations_match_the_population(
    study: Study, clean: pd.DataFrame, truth: dict[str, object]
) -> None:
    scores = scale_scores(study, clean)
    population = truth["scale_scores"]
    assert isinstance(population, dict)
    names = population["variables"]
    iccs = population["icc"]
    sample = scores[names].corr()
    m_eff = effective_cluster_size(clean["_cluster"])
    checked = 0
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            rho = population["correlation"][a][b]
            # Clustering: products of centred scores share at most 2 icc_a icc_b of their
            # variance between organisations.
            deff = 1 + (m_eff - 1) * 2 * iccs[a] * iccs[b]
            se = (1 - rho**2) * math.sqrt(deff / len(clean))
            assert abs(sample.loc[a, b] - rho) <= Z * se, (a, b, sample.loc[a, b], rho, se)
            checked += 1
    assert checked == len(names) * (len(names) - 1) // 2 >= 100


def test_scale_score_means_and_sds_match_the_population(
    study: Study, clean: pd.DataFrame, truth: dict[str, object]
) -> None:
    scores = scale_scores(study, clean)
    population = truth["scale_scores"]
    assert isinstance(population, dict)
    m_eff = effective_cluster_size(clean["_cluster"])
    for name in population["variables"]:
        sd = population["sd"][name]
        deff = 1 + (m_eff - 1) * population["icc"][name]
        se = sd * math.sqrt(deff / len(clean))
        assert abs(scores[name].mean() - population["mean"][name]) <= Z * se, name
        assert scores[name].std() == pytest.approx(sd, rel=0.05), name


def test_scale_score_iccs_match_the_population(
    study: Study, clean: pd.DataFrame, truth: dict[str, object]
) -> None:
    scores = scale_scores(study, clean)
    population = truth["scale_scores"]
    assert isinstance(population, dict)
    for name in population["variables"]:
        rho = population["icc"][name]
        estimate, n0, k = anova_icc(scores[name], clean["_cluster"])
        assert abs(estimate - rho) <= Z * icc_se(rho, n0, k), (name, estimate, rho)
    # The HR practices are organisational policy: they cluster more than behaviour.
    assert population["icc"]["br"] > 2 * population["icc"]["kg"]


def test_discretion_is_the_strongest_path_and_indirect_effect(truth: dict[str, object]) -> None:
    paths = truth["paths"]
    assert isinstance(paths, list)
    to_prof = {p["rhs"]: abs(p["std"]) for p in paths if p["lhs"] == "prof" and p["op"] == "~"}
    assert max(to_prof, key=lambda k: to_prof[k]) == "br"
    indirect = truth["indirect"]
    assert isinstance(indirect, dict)
    assert indirect["ind_O"] == pytest.approx(0.35 * 0.45)
    assert indirect["ind_O"] > indirect["ind_A"] > indirect["ind_M"] > 0


def test_mess_rates_match_the_declared_rates(
    study: Study, population: Population, messy: pd.DataFrame
) -> None:
    n = len(messy)
    rates = {
        "refused": population.mess.consent_refused,
        "test": population.mess.test_responses,
        "dropout": population.mess.dropout,
        "speeder": population.mess.speeders,
        "straightliner": population.mess.straightliners,
        "duplicate": population.mess.duplicates,
    }
    counts = messy["_kind"].value_counts()
    for kind, p in rates.items():
        expected = n * p
        assert abs(counts.get(kind, 0) - expected) <= Z * math.sqrt(n * p * (1 - p)), kind
    # Weet ik niet and skipped items, per shown item, among normal respondents.
    normal = messy[messy["_kind"] == "normal"]
    rows = [r for r in study.items() if r[1].type is ItemType.MATRIX and r[1].choices == "eens5_wn"]
    variables = [v for _p, item in rows for v in item.variables() if not v.startswith("pa_")]
    answers = normal[variables].to_numpy().ravel()
    total = len(answers)
    for share, p in [
        ((answers == 9).sum(), population.mess.dont_know),
        (pd.isna(answers).sum(), population.mess.item_nonresponse),
    ]:
        assert abs(share - total * p) <= Z * math.sqrt(total * p * (1 - p))


def test_answers_respect_choice_lists_conditions_and_constraints(
    study: Study, messy: pd.DataFrame
) -> None:
    for _page, item in study.items():
        codes = {c.code for c in study.choices_of(item)}
        for variable in item.variables():
            values = messy[variable].dropna()
            if item.type in (ItemType.SINGLE, ItemType.MATRIX):
                assert set(values) <= codes, variable
            if item.type is ItemType.INTEGER:
                assert values.map(lambda x: isinstance(x, int)).all(), variable
                assert values.min() >= item.min and values.max() <= item.max, variable
            if item.type is ItemType.LONGTEXT and item.max_length:
                assert values.str.len().max() <= item.max_length
    both = messy[["cl_2", "cl_3"]].dropna()
    assert (both["cl_3"] <= both["cl_2"]).all()
    # Items hidden by a condition hold nothing.
    assert messy.loc[messy["pa_1"] != 1, ["pa_2", "pa_3", "pa_4", "pa_5"]].isna().all().all()
    assert messy.loc[messy["cl_1"] != 1, ["cl_2", "cl_3"]].isna().all().all()
    municipal = messy["organisatie"] != OTHER_ORGANISATION
    assert messy.loc[municipal, ["org_code", "grootte", "provincie"]].isna().all().all()
    refused = messy[messy["_kind"] == "refused"]
    assert (refused["toestemming"] == 0).all()
    answered = refused.drop(columns=[c for c in refused if c.startswith("_")] + ["toestemming"])
    assert answered.isna().all().all()


def test_straightliners_give_one_answer_to_every_matrix_row(
    study: Study, messy: pd.DataFrame
) -> None:
    rows = [
        v for _p, item in study.items() if item.type is ItemType.MATRIX for v in item.variables()
    ]
    straight = messy[messy["_kind"] == "straightliner"][rows]
    assert len(straight)
    for _i, answers in straight.iterrows():
        assert answers.dropna().nunique() == 1


def test_respondents_spread_unequally_over_k_municipalities(
    study: Study, population: Population
) -> None:
    frame = draw_population(study, population, 4_000, seed=3, organisations=40)
    answered = frame[frame["organisatie"].notna()]
    municipal = answered[answered["organisatie"] != OTHER_ORGANISATION]
    codes = set(municipal["organisatie"])
    assert len(codes) == 40
    assert codes <= {m.code for m in load_municipalities()}
    sizes = municipal["organisatie"].value_counts()
    assert sizes.max() > 3 * sizes.min()
    # Organisation type is a property of the organisation.
    assert (frame.groupby("_cluster")["org_type"].nunique(dropna=True) <= 1).all()


@pytest.mark.parametrize(
    ("n", "organisations", "message"),
    [
        (0, None, "n must be at least 1"),
        (-5, None, "n must be at least 1"),
        (10, 0, "organisations must be between 1 and"),
        (10, 10_000, "organisations must be between 1 and"),
    ],
)
def test_bad_sizes_are_refused_with_a_clear_error(
    study: Study, population: Population, n: int, organisations: int | None, message: str
) -> None:
    with pytest.raises(SimulationError, match=message):
        draw_population(study, population, n, seed=1, organisations=organisations)
