"""Fit times of Vakstem's SEM engine against semopy (the baseline, with its tolerance tightened
to `ftol=1e-12` so its estimates are comparable) on HolzingerSwineford1939, PoliticalDemocracy
and a simulated 20,000-row, 30-indicator structural model; prints a table.

Run: .venv/bin/python bench/bench_sem.py [--repeat N] [--reference]
Each time is the median over N repeats (default 5) of one complete fit: for Vakstem that
includes standard errors, the baseline model and all fit measures; for semopy only the
optimisation (`Model.fit`). BLAS runs single-threaded for both (`--blas-threads` to change):
the matrices are small, and on a shared two-core machine OpenBLAS threads only get in each
other's way (the 20,000-row model took four times longer with default threading there).
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from vakstem.analysis.sem.api import fit

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "analysis" / "sem" / "fixtures"

HS_MODEL = """
visual  =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
speed   =~ x7 + x8 + x9
"""
PD_MODEL = """
ind60 =~ x1 + x2 + x3
dem60 =~ y1 + a*y2 + b*y3 + c*y4
dem65 =~ y5 + a*y6 + b*y7 + c*y8
dem60 ~ ind60
dem65 ~ ind60 + dem60
y1 ~~ y5
y2 ~~ y4 + y6
y3 ~~ y7
y4 ~~ y8
y6 ~~ y8
"""
# semopy has no labels for equality: the same structure with the loadings left free.
PD_MODEL_SEMOPY = """
ind60 =~ x1 + x2 + x3
dem60 =~ y1 + y2 + y3 + y4
dem65 =~ y5 + y6 + y7 + y8
dem60 ~ ind60
dem65 ~ ind60 + dem60
y1 ~~ y5
y2 ~~ y4
y2 ~~ y6
y3 ~~ y7
y4 ~~ y8
y6 ~~ y8
"""


def simulated(n: int = 20_000, seed: int = 2026) -> tuple[str, pd.DataFrame]:
    """Six factors with five indicators each; f4 ~ f1 + f2 + f3, f5 ~ f4, f6 ~ f4 + f5."""
    rng = np.random.default_rng(seed)
    exogenous = rng.multivariate_normal(
        np.zeros(3), [[1.0, 0.3, 0.2], [0.3, 1.0, 0.25], [0.2, 0.25, 1.0]], size=n
    )
    f1, f2, f3 = exogenous.T
    f4 = 0.4 * f1 + 0.3 * f2 + 0.2 * f3 + rng.normal(0, 0.7, n)
    f5 = 0.5 * f4 + rng.normal(0, 0.8, n)
    f6 = 0.3 * f4 + 0.4 * f5 + rng.normal(0, 0.7, n)
    factors = [f1, f2, f3, f4, f5, f6]
    columns = {}
    lines = []
    for k, factor in enumerate(factors, start=1):
        names = [f"y{k}_{j}" for j in range(1, 6)]
        for j, name in enumerate(names):
            loading = 1.0 if j == 0 else 0.6 + 0.1 * j
            columns[name] = 3.0 + loading * factor + rng.normal(0, 0.6, n)
        lines.append(f"f{k} =~ " + " + ".join(names))
    lines += ["f4 ~ f1 + f2 + f3", "f5 ~ f4", "f6 ~ f4 + f5"]
    return "\n".join(lines), pd.DataFrame(columns)


def median_time(function: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def semopy_fit(model: str, data: pd.DataFrame) -> dict[tuple[str, str, str], float]:
    import semopy

    m = semopy.Model(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m.fit(data, options={"ftol": 1e-12})
    table = m.inspect()
    return {
        (str(r["lval"]), str(r["op"]), str(r["rval"])): float(r["Estimate"])
        for _, r in table.iterrows()
    }


def largest_difference(ours: pd.DataFrame, theirs: dict[tuple[str, str, str], float]) -> float:
    """Largest absolute difference over the loadings, regressions and (co)variances both report
    (semopy writes `y ~ x` as lval y, rval x and loadings as `x ~ f`)."""
    worst = 0.0
    for row in ours.to_dict(orient="records"):
        if row["op"] == "=~":
            key = (row["rhs"], "~", row["lhs"])
        elif row["op"] in ("~", "~~"):
            key = (row["lhs"], row["op"], row["rhs"])
        else:
            continue
        other = theirs.get(key)
        if other is None and row["op"] == "~~":
            other = theirs.get((row["rhs"], "~~", row["lhs"]))
        if other is not None:
            worst = max(worst, abs(float(row["est"]) - other))
    return worst


def reference_differences() -> None:
    """For every lavaan reference model: the largest difference from lavaan 0.6.14 in the
    estimates, standard errors, standardised values and fit measures (relative where the value
    is larger than 1, as the tests compare)."""
    import json
    import math

    reference = json.loads((FIXTURES / "reference.json").read_text())
    print(
        f"{'reference model':22} {'est':>9} {'se':>9} {'std.all':>9} {'fit':>9} "
        f"{'#fit':>5}  worst fit measure"
    )

    def difference(expected: float | None, actual: float) -> float:
        if expected is None:
            return 0.0 if math.isnan(actual) else math.inf
        return abs(expected - actual) / max(1.0, abs(expected))

    for name, spec in reference["models"].items():
        options = spec["options"] if isinstance(spec["options"], dict) else {}
        result = fit(spec["model"], pd.read_csv(FIXTURES / spec["data"]), **options)
        ours = {
            (r["lhs"], r["op"], r["rhs"], r["group"] if r["op"] != ":=" else 1): r
            for r in result.parameters.to_dict(orient="records")
        }
        worst = {"est": 0.0, "se": 0.0, "std.all": 0.0}
        for row in spec["parameters"]:
            mine = ours[(row["lhs"], row["op"], row["rhs"], row["group"])]
            for column in worst:
                worst[column] = max(worst[column], difference(row[column], mine[column]))
        fit_worst, fit_name, compared = 0.0, "", 0
        for measure, expected in spec["fit"].items():
            if measure in result.fit_measures:
                compared += 1
                d = difference(expected, result.fit_measures[measure])
                if d > fit_worst:
                    fit_worst, fit_name = d, measure
        print(
            f"{name:22} {worst['est']:>9.1e} {worst['se']:>9.1e} {worst['std.all']:>9.1e} "
            f"{fit_worst:>9.1e} {compared:>5}  {fit_name}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--blas-threads", type=int, default=1)
    parser.add_argument(
        "--reference", action="store_true", help="also print the differences from lavaan"
    )
    args = parser.parse_args()
    from threadpoolctl import threadpool_limits  # installed with semopy's scikit-learn

    threadpool_limits(limits=args.blas_threads, user_api="blas")
    if args.reference:
        reference_differences()
        print()
    hs = pd.read_csv(FIXTURES / "hs1939.csv")
    pd_data = pd.read_csv(FIXTURES / "political_democracy.csv")
    sim_model, sim_data = simulated()
    cases = [
        ("HolzingerSwineford1939 CFA", HS_MODEL, HS_MODEL, hs, {}),
        ("HolzingerSwineford1939 CFA, MLR", HS_MODEL, None, hs, {"estimator": "MLR"}),
        ("PoliticalDemocracy SEM", PD_MODEL, PD_MODEL_SEMOPY, pd_data, {}),
        ("Simulated SEM, 20,000 x 30", sim_model, sim_model, sim_data, {}),
    ]
    print(
        f"{'model':34} {'rows':>7} {'vars':>5} {'vakstem s':>10} {'semopy s':>10} "
        f"{'ratio':>7} {'max |diff| est':>15}"
    )
    for name, model, semopy_model, data, options in cases:
        ours = fit(model, data, **options)
        ours_time = median_time(lambda m=model, d=data, o=options: fit(m, d, **o), args.repeat)
        n_vars = sum(1 for c in data.columns if c in set(ours.parameters["rhs"]))
        if semopy_model is not None:
            theirs_time = median_time(lambda m=semopy_model, d=data: semopy_fit(m, d), args.repeat)
            # Only comparable where the models are the same (PoliticalDemocracy differs: semopy
            # cannot constrain loadings equal by label).
            diff = (
                f"{largest_difference(ours.parameters, semopy_fit(semopy_model, data)):.1e}"
                if semopy_model == model
                else "n/a"
            )
            print(
                f"{name:34} {len(data):>7} {n_vars:>5} {ours_time:>10.3f} {theirs_time:>10.3f} "
                f"{theirs_time / ours_time:>7.1f} {diff:>15}"
            )
        else:
            print(
                f"{name:34} {len(data):>7} {n_vars:>5} {ours_time:>10.3f} {'(no MLR)':>10} "
                f"{'':>7} {'':>15}"
            )


if __name__ == "__main__":
    main()
