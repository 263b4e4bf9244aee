"""Time and peak memory of exporting N responses of the klantmanager study to every format.

    .venv/bin/python bench/bench_export.py              # 100,000 responses, every format
    .venv/bin/python bench/bench_export.py -n 5000 --formats csv,sav
    .venv/bin/python bench/bench_export.py --db /tmp/km.db   # keep (and reuse) the database

By default the responses are synthetic and written to the store in bulk (one insert per 1,000
responses), not through the respondent service, which takes about 13 minutes for 100,000 on a
busy two-core machine. `--simulator` draws them with `vakstem.simulate` instead (the population
model of the klantmanager study, submitted page by page through the respondent service in bulk
batches): realistic data, but far slower to set up. Each answer is a
valid value for its item (about 3% left empty, 5% *weet ik niet* where the list has it); 15% of
responses dropped out part way. Every format is exported with `--all --with-scores --open-text`
in a fresh subprocess, whose peak resident memory (ru_maxrss) is the figure reported, so one
format's memory cannot hide in another's; `seconds` is wall-clock time of the export call and
`cpu s` the process's CPU time (which includes ~2 s of imports), the fairer figure on a busy
machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from vakstem.instrument.loader import load_study_file
from vakstem.instrument.schema import Item, ItemType, Study

ROOT = Path(__file__).resolve().parents[1]
STUDY_FILE = ROOT / "src" / "vakstem" / "studies" / "klantmanagers" / "study.yaml"
FORMATS = ("csv", "xlsx", "sav", "dta", "parquet")
BATCH = 1_000
T0 = dt.datetime(2026, 9, 1, 8, 0, tzinfo=dt.UTC)


def _value(study: Study, item: Item, rng: random.Random) -> Any:
    if item.type in (ItemType.SINGLE, ItemType.MATRIX):
        choices = study.choices_of(item)
        if any(c.missing for c in choices) and rng.random() < 0.05:
            return next(c.code for c in choices if c.missing)
        return rng.choice([c.code for c in choices if not c.missing])
    if item.type is ItemType.MULTIPLE:
        codes = [c.code for c in study.choices_of(item)]
        return sorted(rng.sample(codes, rng.randint(1, min(3, len(codes)))))
    if item.type is ItemType.CONSENT:
        return 1
    if item.type is ItemType.INTEGER:
        return rng.randint(int(item.min or 0), int(min(item.max or 100, 60)))
    if item.type is ItemType.DECIMAL:
        return round(rng.uniform(item.min or 0, min(item.max or 100, 60)), 1)
    if item.type is ItemType.DATE:
        return (dt.date(2010, 1, 1) + dt.timedelta(days=rng.randint(0, 5000))).isoformat()
    return rng.choice(["Meer tijd voor klanten", "Minder administratie", "Betere systemen"])


def populate(url: str, n: int, seed: int = 1) -> str:
    """Load the study and insert `n` synthetic responses; returns the version hash."""
    from vakstem.store import open_database
    from vakstem.store.studies import get_study, load_study, set_status
    from vakstem.store.tables import answers, responses

    engine = open_database(url)
    study = load_study_file(STUDY_FILE)
    digest, _new = load_study(engine, study, STUDY_FILE.read_text("utf-8"))
    if get_study(engine, study.id).status.value == "draft":
        set_status(engine, study.id, "open")
    with engine.connect() as conn:
        have = conn.execute(
            sa.select(sa.func.count()).where(responses.c.study_id == study.id)
        ).scalar_one()
    rng = random.Random(seed)
    pages = list(study.pages)
    for start in range(have, n, BATCH):
        response_rows: list[dict[str, Any]] = []
        answer_rows: list[dict[str, Any]] = []
        for i in range(start, min(start + BATCH, n)):
            rid = f"b{i:09d}"
            began = T0 + dt.timedelta(seconds=37 * i)
            dropout = rng.random() < 0.15
            reached = rng.randint(2, len(pages) - 1) if dropout else len(pages)
            for page in pages[:reached]:
                for item in page.items:
                    for variable in item.variables():
                        if item.type is ItemType.NOTE or rng.random() < 0.03:
                            continue
                        answer_rows.append(
                            {
                                "response_id": rid,
                                "variable": variable,
                                "value": _value(study, item, rng),
                                "page_id": page.id,
                                "updated_at": began,
                            }
                        )
            done = began + dt.timedelta(seconds=rng.randint(300, 2400))
            response_rows.append(
                {
                    "id": rid,
                    "study_id": study.id,
                    "version_hash": digest,
                    "language": "nl" if rng.random() < 0.9 else "en",
                    "source": rng.choice(study.sources),
                    "status": "active" if dropout else "completed",
                    "is_test": False,
                    "current_page": pages[reached].id if dropout else None,
                    "path": [p.id for p in pages[:reached]],
                    "seed": i,
                    "orders": {},
                    "resume_hash": f"bench{i:09d}",
                    "started_at": began,
                    "completed_at": None if dropout else done,
                    "updated_at": done,
                }
            )
        with engine.begin() as conn:
            conn.execute(responses.insert(), response_rows)
            conn.execute(answers.insert(), answer_rows)
    engine.dispose()
    return digest


def populate_simulated(url: str, n: int, seed: int = 1) -> None:
    """Load the study and simulate `n` respondents through the respondent service."""
    from vakstem.simulate.api import simulate
    from vakstem.store import open_database
    from vakstem.store.studies import get_study, load_study, set_status
    from vakstem.store.tables import responses

    engine = open_database(url)
    study = load_study_file(STUDY_FILE)
    load_study(engine, study, STUDY_FILE.read_text("utf-8"))
    if get_study(engine, study.id).status.value == "draft":
        set_status(engine, study.id, "open")
    with engine.connect() as conn:
        have = conn.execute(
            sa.select(sa.func.count()).where(responses.c.study_id == study.id)
        ).scalar_one()
    if have < n:
        simulate(engine, study.id, n=n - have, seed=seed + have, bulk=True)
    engine.dispose()


def child(fmt: str, url: str, out: str) -> None:
    """Run one export in this process and print its figures as JSON."""
    from vakstem.export.api import export_to_file
    from vakstem.export.table import ExportOptions
    from vakstem.store import open_database

    engine = open_database(url)
    options = ExportOptions(completed_only=False, with_scores=True, open_text=True)
    began = time.perf_counter()
    result = export_to_file(engine, "klantmanagers", fmt, Path(out), options, force=True)
    seconds = time.perf_counter() - began
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        json.dumps(
            {
                "format": fmt,
                "seconds": round(seconds, 1),
                "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
                "peak_mb": round(usage.ru_maxrss / 1024, 1),
                "rows": result.rows,
                "columns": result.columns,
                "file_mb": round(Path(out).stat().st_size / 1e6, 1),
            }
        )
    )


def baseline(url: str) -> float:
    """Peak memory of a process that only imports everything and opens the database."""
    code = (
        "import resource, vakstem.export.api, vakstem.export.formats._frame, pyreadstat, "
        "pyarrow.parquet, openpyxl; from vakstem.store import open_database; "
        f"open_database({url!r}); "
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return float(out.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=100_000, help="responses (default 100,000)")
    parser.add_argument("--formats", default=",".join(FORMATS))
    parser.add_argument("--db", help="SQLite file to create or reuse (default: a temporary one)")
    parser.add_argument("--database-url", help="any database URL instead of --db")
    parser.add_argument(
        "--simulator", action="store_true", help="draw responses with vakstem.simulate"
    )
    parser.add_argument(
        "--child", nargs=3, metavar=("FORMAT", "URL", "OUT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    work = Path(tempfile.mkdtemp(prefix="vakstem-bench-"))
    url = args.database_url or f"sqlite:///{Path(args.db).resolve() if args.db else work / 'km.db'}"
    began = time.perf_counter()
    if args.simulator:
        populate_simulated(url, args.n)
    else:
        populate(url, args.n)
    print(f"{args.n} responses in the store ({time.perf_counter() - began:.0f} s to insert)")
    print(f"baseline peak memory (imports + open database): {baseline(url):.0f} MB")
    print(
        f"{'format':8} {'rows':>8} {'cols':>5} {'seconds':>8} {'cpu s':>7} {'peak MB':>8} "
        f"{'file MB':>8}"
    )
    for fmt in args.formats.split(","):
        out = work / f"klantmanagers.{fmt}"
        proc = subprocess.run(
            [sys.executable, __file__, "--child", fmt, url, str(out)],
            capture_output=True,
            text=True,
            env=os.environ | {"PYTHONPATH": str(ROOT / "src")},
        )
        if proc.returncode != 0:
            print(f"{fmt:8} failed: {proc.stderr.strip().splitlines()[-1:]}")
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        print(
            f"{fmt:8} {r['rows']:>8} {r['columns']:>5} {r['seconds']:>8} {r['cpu_s']:>7} "
            f"{r['peak_mb']:>8} "
            f"{r['file_mb']:>8}"
        )
        for leftover in work.glob("klantmanagers.*"):
            leftover.unlink()
    if not args.db:
        for leftover in work.iterdir():
            leftover.unlink()
        work.rmdir()


if __name__ == "__main__":
    main()
