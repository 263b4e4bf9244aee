"""Cluster-robust fits (`fit(cluster=...)`, lavaan's ``cluster =`` for a single-level model):
the numbers themselves are compared with lavaan in `test_sem_reference.py` (the `nested_*`
models); here the bad inputs, the rows without a cluster, and the bootstrap drawing whole
clusters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from vakstem.analysis.sem import DataError, ModelSpecificationError, fit
from vakstem.analysis.sem.engine import GroupData

FIXTURES = Path(__file__).parent / "fixtures"
MODEL = """
ability =~ a1 + a2 + a3
action  =~ p1 + p2 + p3
action ~ b*ability
indirect := b * 1
"""


@pytest.fixture(scope="module")
def nested() -> pd.DataFrame:
    return pd.read_csv(FIXTURES / "nested.csv")


def test_cluster_needs_mlr_and_says_so(nested: pd.DataFrame) -> None:
    with pytest.raises(ModelSpecificationError, match="estimator='MLR'"):
        fit(MODEL, nested, estimator="ML", cluster="org")


def test_an_unknown_cluster_column_is_named(nested: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="the cluster variable 'organisatie' is not a column"):
        fit(MODEL, nested, estimator="MLR", cluster="organisatie")


def test_a_single_cluster_is_refused(nested: pd.DataFrame) -> None:
    one = nested.assign(org="org01")
    with pytest.raises(DataError, match=r"'org' has 1 cluster in the rows used; .* at least two"):
        fit(MODEL, one, estimator="MLR", cluster="org")
    # In a group, the message names the group.
    split = nested.assign(org=np.where(nested["type"] == "gemeente", "g", nested["org"]))
    with pytest.raises(DataError, match="1 cluster in group 'gemeente'"):
        fit(MODEL, split, estimator="MLR", cluster="org", group="type")


def test_rows_without_a_cluster_are_left_out_and_the_result_says_how_many_clusters(
    nested: pd.DataFrame,
) -> None:
    some = nested.copy()
    some.loc[:49, "org"] = None
    result = fit(MODEL, some, estimator="MLR", cluster="org")
    assert result.n_obs == [len(nested) - 50]
    kept = some["org"].dropna().nunique()
    assert result.n_clusters == [kept]
    described = result.to_dict()
    assert described["options"]["cluster"] == "org" and described["nclusters"] == [kept]
    assert fit(MODEL, nested, estimator="MLR").to_dict()["nclusters"] is None


def test_singleton_clusters_give_the_ordinary_robust_errors_up_to_the_small_sample_factor(
    nested: pd.DataFrame,
) -> None:
    own = nested.assign(row=np.arange(len(nested)))
    clustered = fit(MODEL, own, estimator="MLR", cluster="row").parameters
    # The cluster fit has a mean structure; compare the rows both have.
    plain = fit(MODEL, own, estimator="MLR", missing="ml").parameters
    key = ["lhs", "op", "rhs"]
    both = clustered.merge(plain, on=key, suffixes=("_c", "_p"))
    both = both[both["se_p"].notna() & (both["se_p"] > 0)]
    n = len(nested)
    assert len(both) >= 14
    np.testing.assert_allclose(both["est_c"], both["est_p"], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(both["se_c"], both["se_p"] * np.sqrt(n / (n - 1)), rtol=1e-5)


def test_bootstrap_draws_whole_clusters(
    nested: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[Any, np.ndarray]] = []
    original = GroupData.reweighted

    def recorded(self: GroupData, weights: np.ndarray) -> GroupData:
        seen.append((self.clusters, weights.copy()))
        return original(self, weights)

    monkeypatch.setattr(GroupData, "reweighted", recorded)
    result = fit(MODEL, nested, estimator="MLR", cluster="org", bootstrap=25, seed=3)
    assert result.bootstrap["successful"] >= 20
    assert len(seen) == 25
    totals = set()
    for clusters, weights in seen:
        assert clusters is not None
        for c in np.unique(clusters):
            # Every row of a cluster counts as often as its cluster was drawn.
            assert len(set(weights[clusters == c])) == 1
        sizes = np.bincount(clusters)
        drawn = np.array([weights[clusters == c][0] for c in range(sizes.size)])
        assert drawn.sum() == sizes.size
        totals.add(float(weights.sum()))
    # Clusters differ in size, so the draws differ in their number of rows.
    assert len(totals) > 1
    again = fit(MODEL, nested, estimator="MLR", cluster="org", bootstrap=25, seed=3)
    pd.testing.assert_frame_equal(result.parameters, again.parameters)
