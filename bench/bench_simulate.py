"""Rates of the klantmanager simulator: drawing respondents in memory, and writing them page by
page through the respondent service (one transaction per page, or `bulk` batches).

    .venv/bin/python bench/bench_simulate.py                  # n=200 per mode, draw 100,000
    .venv/bin/python bench/bench_simulate.py -n 500 --modes sqlite-bulk
    .venv/bin/python bench/bench_simulate.py --postgres postgresql+psycopg://postgres@127.0.0.1/test

Prints, per mode, responses and page submissions per second and the time 100,000 responses
would take at that rate, with the machine's load average (the figures scale with it).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from vakstem.instrument.loader import load_study_file
from vakstem.simulate import draw_population, load_population, simulate
from vakstem.store import open_database
from vakstem.store.studies import load_study, set_status
from vakstem.studies.klantmanagers import POPULATION_FILE, STUDY_FILE

START = datetime(2026, 9, 7, tzinfo=UTC)


def _open(url: str):  # type: ignore[no-untyped-def]
    engine = open_database(url)
    study = load_study_file(STUDY_FILE)
    load_study(engine, study, STUDY_FILE.read_text(encoding="utf-8"))
    set_status(engine, study.id, "open")
    return engine


def _write(url: str, n: int, bulk: bool, batch: int) -> None:
    engine = _open(url)
    result = simulate(
        engine, "klantmanagers", n=n, seed=1, start=START, bulk=bulk, batch_size=batch
    )
    engine.dispose()
    pages = result.submissions / result.seconds
    print(
        f"  {n} responses, {result.submissions} pages in {result.seconds:.1f} s: "
        f"{result.rate:.1f} responses/s, {pages:.0f} pages/s; "
        f"100,000 responses ≈ {100_000 / result.rate / 3600:.1f} h"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=200)
    parser.add_argument("--draw-n", type=int, default=100_000)
    parser.add_argument("--modes", default="draw,sqlite,sqlite-bulk")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--postgres", help="admin URL; adds a postgres-bulk mode")
    args = parser.parse_args()
    modes = args.modes.split(",") + (["postgres-bulk"] if args.postgres else [])
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        for mode in modes:
            print(mode)
            if mode == "draw":
                study = load_study_file(STUDY_FILE)
                population = load_population(POPULATION_FILE)
                began = time.perf_counter()
                draw_population(study, population, args.draw_n, seed=1)
                took = time.perf_counter() - began
                print(f"  {args.draw_n} respondents drawn in {took:.1f} s")
            elif mode in ("sqlite", "sqlite-bulk"):
                url = f"sqlite:///{Path(tmp) / (mode + '.db')}"
                _write(url, args.n, mode == "sqlite-bulk", args.batch)
            elif mode == "postgres-bulk":
                name = f"vakstem_bench_{uuid.uuid4().hex[:8]}"
                dsn = args.postgres.replace("postgresql+psycopg://", "postgresql://")
                with psycopg.connect(dsn, autocommit=True) as conn:
                    conn.execute(f'CREATE DATABASE "{name}"')
                try:
                    _write(f"{args.postgres.rsplit('/', 1)[0]}/{name}", args.n, True, args.batch)
                finally:
                    with psycopg.connect(dsn, autocommit=True) as conn:
                        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
