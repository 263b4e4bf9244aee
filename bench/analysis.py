"""The klantmanager study's full analysis plan on 1,000, 10,000 and 100,000 simulated responses
(seconds per stage and peak memory), and one ML fit of the study's structural model by Vakstem,
semopy and lavaan (through Rscript, when R has lavaan) on the same data in the same run.

    .venv/bin/python bench/analysis.py            # sizes 1,000 10,000 100,000; 1,000 draws
    .venv/bin/python bench/analysis.py --quick    # 10,000 only, 20 draws: under a minute
    .venv/bin/python bench/analysis.py --sizes 10000 --draws 1000 --processes 2

Each size runs in a child process of its own, so its peak memory (max RSS) is its own; it
includes simulating the responses (about 1.9 GB at 100,000, most of the peak), so the plan's
own peak is reported beside it: the kernel's high-water mark of resident memory, reset once the
data are built (`/proc/self/clear_refs`), and so with the data held, as `vakstem analyse`
holds them. The
responses come from the simulator's population model of the study (no respondent service), go
through the csv export code like real data, and then through `run_plan`; the stages are the
plan's steps (quality and scoring, reliability, each measurement model, the structural model's
fit and its bootstrap, multilevel, invariance, open answers) and the HTML report.

The fit comparison uses the complete cases of the 10,000-response table (semopy has no FIML
with covariates): the study's structural model without labels and defined parameters, ML with
fixed.x. Vakstem's time includes standard errors, the baseline model and every fit measure;
semopy's only its optimisation (`ftol=1e-12`, as tight as lavaan's own tolerance); lavaan's is
`sem()` measured inside R (not R's start-up). BLAS runs single-threaded for all three. The
largest difference is over the loadings, regressions and (co)variances all report.

Ends with one line `RESULT name=value ...`.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from machine import python_ms

SEM_ID = "sem_amo"


def _limit_blas() -> None:
    """One BLAS thread in every BLAS library for the whole run (semopy's fits included;
    Vakstem's fits and plan limit themselves). scipy's wheel brings its own OpenBLAS next to
    numpy's, loaded only when scipy.linalg is imported, and threadpoolctl limits only the
    libraries loaded when it is called: import scipy first."""
    import scipy.linalg  # noqa: F401  (loads scipy's BLAS library so that it is limited too)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


def _study() -> Any:
    from vakstem.export.codebook import find_study_file
    from vakstem.instrument.loader import load_study_file

    return load_study_file(find_study_file("klantmanagers"))


def _analysis_frame(study: Any, n: int, seed: int) -> tuple[Any, pd.DataFrame]:
    from vakstem.analysis.plan import data_from_records, prepare_analysis_frame, simulated_records
    from vakstem.analysis.quality import assess_quality

    records, _truth = simulated_records(study, n, seed=seed)
    data = data_from_records(study, records)
    quality = assess_quality(study, data.frame, include_test=False)
    kept = data.frame[quality.analysed_mask].reset_index(drop=True)
    return data, prepare_analysis_frame(study, kept)


# --- one size, in a child process --------------------------------------------------------------


def _cpu_seconds() -> float:
    """CPU seconds of this process and of its children that have ended (the bootstrap's
    process pool ends with the structural step): on a shared machine these move far less
    with the load than wall-clock seconds."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _reset_peak() -> bool:
    """Reset this process's high-water mark of resident memory (Linux 4.0+); False elsewhere."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        return False
    return True


def _peak_since_reset_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def run_size(n: int, draws: int, processes: int, seed: int) -> dict[str, Any]:
    """The plan on n simulated responses: seconds per stage, peak memory."""
    from vakstem.analysis import sem
    from vakstem.analysis.plan import STEPS, PlanOptions, run_plan
    from vakstem.analysis.report import render_report

    study = _study()
    out: dict[str, Any] = {"n": n, "draws": draws, "processes": processes}
    start = time.perf_counter()
    data, frame = _analysis_frame(study, n, seed)
    out["simulate_s"] = time.perf_counter() - start
    out["analysed_rows"] = len(frame)
    gc.collect()
    reset = _reset_peak()
    # Each model alone (the plan's measurement step fits MLR with FIML; the structural model's
    # fit is timed here without its bootstrap).
    models: dict[str, float] = {}
    for spec in study.analysis.models:
        begin = time.perf_counter()
        sem.fit(spec.syntax, frame, estimator="MLR", missing=spec.missing, std_lv=spec.std_lv)
        models[spec.id] = time.perf_counter() - begin
    out["models_s"] = models
    stages: dict[str, float] = {}
    cpu_stages: dict[str, float] = {}
    marks: list[tuple[str, float, float]] = []
    first_draw: list[float] = []

    def on_step(step: str, number: int, total: int) -> None:
        marks.append((step, time.perf_counter(), _cpu_seconds()))

    def on_draw(done: int, total: int) -> None:
        if not first_draw:
            first_draw.append(time.perf_counter())

    begin = time.perf_counter()
    results = run_plan(
        study,
        data,
        PlanOptions(bootstrap=draws, processes=processes),
        progress=on_step,
        draw_progress=on_draw,
    )
    end = time.perf_counter()
    marks.append(("end", end, _cpu_seconds()))
    for (step, at, cpu_at), (_next, until, cpu_until) in itertools.pairwise(marks):
        stages[step] = until - at
        cpu_stages[step] = cpu_until - cpu_at
    begin_report = time.perf_counter()
    cpu_report = _cpu_seconds()
    render_report(results.to_dict())
    stages["report"] = time.perf_counter() - begin_report
    cpu_stages["report"] = _cpu_seconds() - cpu_report
    out["plan_s"] = end - begin + stages["report"]
    out["stages_s"] = stages
    out["plan_cpu_s"] = sum(cpu_stages.values())
    out["stages_cpu_s"] = cpu_stages
    structural = results.steps["structural"]
    # The structural step is the model's fit, its bootstrap and the delta-method intervals.
    out["bootstrap_s"] = max(0.0, stages.get("structural", 0.0) - models.get(SEM_ID, 0.0))
    out["bootstrap"] = (structural.data.get("models") or [{}])[0].get("bootstrap", {})
    out["status"] = {s: results.steps[s].status for s in STEPS}
    out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["plan_peak_mb"] = _peak_since_reset_mb() if reset else float("nan")
    return out


# --- the fit comparison ----------------------------------------------------------------------


def comparison_model(syntax: str) -> str:
    """The structural model without labels (`a1*SCH` -> `SCH`) and defined parameters."""
    lines = []
    for line in syntax.strip().splitlines():
        if ":=" in line:
            continue
        lines.append(re.sub(r"\b[A-Za-z_][A-Za-z0-9_]*\*", "", line))
    return "\n".join(lines)


def observed_columns(model: str, frame: pd.DataFrame) -> list[str]:
    names = dict.fromkeys(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", model))
    return [n for n in names if n in frame.columns]


def median_time(function: Any, repeat: int) -> tuple[float, Any]:
    times, value = [], None
    for _ in range(repeat):
        begin = time.perf_counter()
        value = function()
        times.append(time.perf_counter() - begin)
    return statistics.median(times), value


def ours_fit(model: str, data: pd.DataFrame) -> dict[tuple[str, str, str], float]:
    from vakstem.analysis import sem

    result = sem.fit(model, data, estimator="ML")
    return {
        (str(r["lhs"]), str(r["op"]), str(r["rhs"])): float(r["est"])
        for r in result.parameters.to_dict(orient="records")
    }


def semopy_fit(model: str, data: pd.DataFrame) -> dict[tuple[str, str, str], float]:
    import semopy

    m = semopy.Model(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m.fit(data, options={"ftol": 1e-12})
    out = {}
    for _, r in m.inspect().iterrows():
        lval, op, rval = str(r["lval"]), str(r["op"]), str(r["rval"])
        # semopy writes a loading `x ~ F`; lavaan `F =~ x`.
        loading = op == "~" and rval in _LATENT and lval not in _LATENT
        key = (rval, "=~", lval) if loading else (lval, op, rval)
        out[key] = float(r["Estimate"])
    return out


_LATENT: set[str] = set()

R_SCRIPT = r"""
suppressPackageStartupMessages(library(lavaan))
args <- commandArgs(trailingOnly = TRUE)
data <- read.csv(args[1])
model <- paste(readLines(args[2]), collapse = "\n")
repeats <- as.integer(args[3])
times <- numeric(repeats)
for (i in seq_len(repeats)) {
  times[i] <- system.time(fit <- sem(model, data = data, estimator = "ML"))[["elapsed"]]
}
pe <- parameterEstimates(fit)
cat("SECONDS", median(times), "\n")
write.csv(pe[, c("lhs", "op", "rhs", "est")], args[4], row.names = FALSE)
"""


def lavaan_fit(
    model: str, data: pd.DataFrame, repeat: int
) -> tuple[float, dict[tuple[str, str, str], float]] | None:
    if shutil.which("Rscript") is None:
        return None
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        data.to_csv(root / "data.csv", index=False)
        (root / "model.lav").write_text(model + "\n")
        (root / "fit.R").write_text(R_SCRIPT)
        done = subprocess.run(
            [
                "Rscript",
                str(root / "fit.R"),
                str(root / "data.csv"),
                str(root / "model.lav"),
                str(repeat),
                str(root / "estimates.csv"),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        found = re.search(r"SECONDS ([0-9.eE+-]+)", done.stdout)
        if done.returncode != 0 or not found:
            print(f"  lavaan failed: {done.stderr.strip()[:300]}")
            return None
        table = pd.read_csv(root / "estimates.csv")
        estimates = {
            (str(r["lhs"]), str(r["op"]), str(r["rhs"])): float(r["est"])
            for r in table.to_dict(orient="records")
        }
        return float(found.group(1)), estimates


def largest_difference(
    ours: dict[tuple[str, str, str], float], theirs: dict[tuple[str, str, str], float]
) -> tuple[float, int]:
    worst, compared = 0.0, 0
    for (lhs, op, rhs), value in ours.items():
        if op not in ("=~", "~", "~~"):
            continue
        other = theirs.get((lhs, op, rhs))
        if other is None and op == "~~":
            other = theirs.get((rhs, op, lhs))
        if other is not None:
            compared += 1
            worst = max(worst, abs(value - other))
    return worst, compared


def compare_fits(n: int, seed: int, repeat: int) -> dict[str, Any]:
    study = _study()
    spec = {m.id: m for m in study.analysis.models}[SEM_ID]
    model = comparison_model(spec.syntax)
    _LATENT.update(re.findall(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=~", model, flags=re.M))
    _data, frame = _analysis_frame(study, n, seed)
    data = frame[observed_columns(model, frame)].dropna().reset_index(drop=True)
    out: dict[str, Any] = {"rows": len(data), "variables": data.shape[1]}
    out["fit_s"], ours = median_time(lambda: ours_fit(model, data), repeat)
    try:
        out["semopy_s"], theirs = median_time(lambda: semopy_fit(model, data), repeat)
        out["diff_semopy"], out["compared_semopy"] = largest_difference(ours, theirs)
    except ImportError:
        print("  semopy is not installed: no semopy comparison")
    lavaan = lavaan_fit(model, data, repeat)
    if lavaan is not None:
        out["lavaan_s"], estimates = lavaan
        out["diff_lavaan"], out["compared_lavaan"] = largest_difference(ours, estimates)
    return out


# --- the parent --------------------------------------------------------------------------------


def child(args: list[str]) -> dict[str, Any]:
    command = [sys.executable, __file__, *args]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    for line in done.stdout.splitlines():
        if line.startswith("JSON "):
            result: dict[str, Any] = json.loads(line[5:])
            return result
    raise RuntimeError(f"{' '.join(args)} failed:\n{done.stderr[-2000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10,000 only; 20 draws")
    parser.add_argument("--sizes", default=None, help="comma-separated (default 1000,10000,100000)")
    parser.add_argument("--draws", type=int, default=None, help="bootstrap draws (default 1000)")
    parser.add_argument("--processes", type=int, default=2, help="processes for the draws")
    parser.add_argument("--repeat", type=int, default=None, help="repeats of each fit (median)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--compare", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    _limit_blas()
    draws = args.draws if args.draws is not None else (20 if args.quick else 1000)
    repeat = args.repeat or (1 if args.quick else 3)
    if args.one:
        print("JSON " + json.dumps(run_size(args.one, draws, args.processes, args.seed)))
        return
    if args.compare:
        print("JSON " + json.dumps(compare_fits(args.compare, args.seed, repeat)))
        return
    # --quick leaves out the 1,000: its plan took 11-13 s on a slow machine, which put the
    # run over a minute, and it is in no target.
    default_sizes = "10000" if args.quick else "1000,10000,100000"
    sizes = [int(s) for s in (args.sizes or default_sizes).split(",") if s.strip()]
    load = os.getloadavg()
    print(
        f"machine: {os.cpu_count()} cores, load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
        f"draws {draws}, processes {args.processes}, BLAS threads 1"
    )
    common = ["--draws", str(draws), "--processes", str(args.processes), "--seed", str(args.seed)]
    runs = {}
    for n in sizes:
        run = child(["--one", str(n), *common])
        runs[n] = run
        stages = ", ".join(f"{k} {v:.2f}" for k, v in run["stages_s"].items())
        models = ", ".join(f"{k} {v:.2f}" for k, v in run["models_s"].items())
        failed = [s for s, status in run["status"].items() if status == "failed"]
        print(
            f"n={n:>7} ({run['analysed_rows']} analysed): plan {run['plan_s']:.1f} s, "
            f"peak {run['peak_mb']:.0f} MB (plan with its data {run['plan_peak_mb']:.0f} MB), "
            f"simulate+table {run['simulate_s']:.1f} s"
            + (f", FAILED steps: {failed}" if failed else "")
        )
        print(f"    stages (s): {stages}")
        cpu = ", ".join(f"{k} {v:.2f}" for k, v in run["stages_cpu_s"].items())
        print(f"    CPU seconds (with the draws' processes): plan {run['plan_cpu_s']:.1f}; {cpu}")
        print(f"    models alone, MLR (s): {models}")
        boot = run["bootstrap"]
        print(
            f"    bootstrap: {boot.get('successful')}/{boot.get('draws')} draws in "
            f"{run['bootstrap_s']:.1f} s"
        )
    compare_n = 10_000
    comparison = child(["--compare", str(compare_n), "--repeat", str(repeat), "--seed", "1"])
    fit_s = comparison["fit_s"]
    print(
        f"ML fit of {SEM_ID} on the complete cases of {compare_n} responses "
        f"({comparison['rows']} rows x {comparison['variables']} variables), median of {repeat}:"
    )
    print(f"    vakstem {fit_s:.3f} s (with standard errors, baseline and fit measures)")
    result = {"fit_s": fit_s}
    diffs = []
    for tool in ("semopy", "lavaan"):
        if f"{tool}_s" in comparison:
            seconds = comparison[f"{tool}_s"]
            diff = comparison[f"diff_{tool}"]
            diffs.append(diff)
            print(
                f"    {tool} {seconds:.3f} s: ratio {seconds / fit_s:.2f}, largest |difference| "
                f"{diff:.1e} over {comparison[f'compared_{tool}']} estimates"
            )
            result[f"{tool}_s"] = seconds
            result[f"ratio_{tool}"] = seconds / fit_s
    ten = runs.get(10_000)
    if ten is not None:
        result["plan_10k_s"] = ten["plan_s"]
        result["plan_10k_cpu_s"] = ten["plan_cpu_s"]
        result["plan_10k_draws"] = draws
    for n, run in runs.items():
        result[f"plan_{n // 1000}k_peak_mb"] = run["peak_mb"]
        result[f"plan_{n // 1000}k_plan_peak_mb"] = run["plan_peak_mb"]
    result["max_est_diff"] = max(diffs) if diffs else float("nan")
    result["load1"] = os.getloadavg()[0]
    result["python_ms"] = python_ms()
    print(
        "RESULT "
        + " ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in result.items()
        )
    )


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
