"""Fits run with one BLAS thread in every BLAS library loaded (numpy's and scipy's own OpenBLAS
are separate libraries, so a limit set before scipy is imported misses scipy's), through
`sem.fit` and `vakstem fit`, and give the caller's limits back afterwards, also when fits
nest or run in another thread."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import typer
from threadpoolctl import threadpool_info, threadpool_limits  # type: ignore[import-untyped]
from typer.testing import CliRunner

from vakstem.analysis.sem import api
from vakstem.analysis.sem import estimate as est
from vakstem.analysis.sem.api import fit
from vakstem.commands.fit import fit as fit_command

FIXTURES = Path(__file__).parent / "fixtures"
HS_MODEL = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"


def _blas() -> dict[str, int]:
    """Threads per BLAS library, by file."""
    return {
        str(info["filepath"]): int(info["num_threads"])
        for info in threadpool_info()
        if info["user_api"] == "blas"
    }


@pytest.fixture(scope="module")
def hs() -> pd.DataFrame:
    return pd.read_csv(FIXTURES / "hs1939.csv")


@pytest.fixture
def during_estimate(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, int]]:
    """The BLAS threads seen while the engine's real estimation runs (recorded on entry)."""
    seen: list[dict[str, int]] = []
    estimate = est.estimate

    def recording(*args: Any, **kwargs: Any) -> est.Estimates:
        seen.append(_blas())
        return estimate(*args, **kwargs)

    monkeypatch.setattr(est, "estimate", recording)
    return seen


@pytest.fixture
def two_threads() -> Any:
    """The caller's own setting: two threads in every BLAS library."""
    with threadpool_limits(limits=2, user_api="blas"):
        before = _blas()
        if all(threads == 1 for threads in before.values()):
            pytest.skip("the BLAS libraries here cannot run two threads")
        yield before


def test_scipy_has_a_blas_library_of_its_own_that_is_limited(
    hs: pd.DataFrame, during_estimate: list[dict[str, int]], two_threads: dict[str, int]
) -> None:
    # The library scipy.linalg calls is among those limited: where scipy's wheel bundles its
    # own OpenBLAS (as here) it is a second library next to numpy's.
    scipy_libraries = [path for path in two_threads if "scipy.libs" in path]
    fit(HS_MODEL, hs)
    assert during_estimate
    for path in scipy_libraries:
        assert during_estimate[0][path] == 1


def test_a_fit_runs_with_one_thread_in_every_blas_library_and_restores_the_callers_limits(
    hs: pd.DataFrame, during_estimate: list[dict[str, int]], two_threads: dict[str, int]
) -> None:
    result = fit(HS_MODEL, hs, group="school", estimator="MLR")
    assert result.fit_measures["chisq"] > 0
    # Two groups: the model and its baseline, each estimated.
    assert len(during_estimate) >= 2
    for seen in during_estimate:
        assert seen.keys() == two_threads.keys()
        assert set(seen.values()) == {1}
    assert _blas() == two_threads


def test_the_limits_come_back_when_a_fit_fails(
    hs: pd.DataFrame, two_threads: dict[str, int]
) -> None:
    with pytest.raises(api.SemError):
        fit("visual =~ x1 + x2 + nothere", hs)
    assert _blas() == two_threads


def test_a_fit_inside_a_fit_keeps_one_thread_after_it_ends(
    hs: pd.DataFrame, monkeypatch: pytest.MonkeyPatch, two_threads: dict[str, int]
) -> None:
    # The first estimation of the outer fit runs a whole fit first: once that inner fit has
    # ended, the outer one must still run with one thread (only the outermost fit restores).
    after_inner: list[dict[str, int]] = []
    estimate = est.estimate

    def nesting(*args: Any, **kwargs: Any) -> est.Estimates:
        if not after_inner:
            after_inner.append({})
            fit(HS_MODEL, hs)
            after_inner[0] = _blas()
        return estimate(*args, **kwargs)

    monkeypatch.setattr(est, "estimate", nesting)
    fit(HS_MODEL, hs)
    assert after_inner[0].keys() == two_threads.keys()
    assert set(after_inner[0].values()) == {1}
    assert _blas() == two_threads


def test_a_fit_in_another_thread_leaves_the_callers_limits_alone(
    hs: pd.DataFrame, two_threads: dict[str, int]
) -> None:
    # threadpoolctl lets one Python thread change OpenBLAS's process-wide limit; whatever a
    # fit in another thread does, the limits the caller set are those in force afterwards.
    errors: list[BaseException] = []

    def run() -> None:
        try:
            fit(HS_MODEL, hs)
        except BaseException as exc:  # reported by the test, not lost in the thread
            errors.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(120)
    assert not errors
    assert _blas() == two_threads


def test_the_fit_command_runs_with_one_blas_thread(
    during_estimate: list[dict[str, int]], two_threads: dict[str, int]
) -> None:
    app = typer.Typer()
    app.command()(fit_command)
    result = CliRunner().invoke(app, [HS_MODEL, "--data", str(FIXTURES / "hs1939.csv")])
    assert result.exit_code == 0, result.output
    assert during_estimate
    for seen in during_estimate:
        assert seen.keys() == two_threads.keys()
        assert set(seen.values()) == {1}
    assert _blas() == two_threads


def test_the_analyse_command_fits_its_models_with_one_blas_thread(
    tmp_path: Path, during_estimate: list[dict[str, int]], two_threads: dict[str, int]
) -> None:
    from vakstem.analysis.plan import data_from_records, simulated_records
    from vakstem.commands.analyse import analyse
    from vakstem.export.codebook import find_study_file
    from vakstem.instrument.loader import load_study_file

    study = load_study_file(find_study_file("klantmanagers"))
    records, _truth = simulated_records(study, 200, seed=8)
    export = tmp_path / "klantmanagers.csv"
    data_from_records(study, records).frame.to_csv(export, index=False)
    app = typer.Typer()
    app.command()(analyse)
    result = CliRunner().invoke(
        app,
        ["klantmanagers", "--data", str(export), "--out", str(tmp_path / "report.html"),
         "--steps", "quality,measurement"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert during_estimate
    for seen in during_estimate:
        assert seen.keys() == two_threads.keys()
        assert set(seen.values()) == {1}
    assert _blas() == two_threads
