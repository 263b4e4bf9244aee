"""Export speed and memory: N responses of the klantmanager study to every format, against
pandas + pyreadstat (and pandas' own writers) writing the same frame in the same run.

    .venv/bin/python bench/export.py                 # 100,000 responses (and 10,000 for memory)
    .venv/bin/python bench/export.py --quick         # 3,000 responses (and 600), under a minute
    .venv/bin/python bench/export.py -n 50000 --formats csv,sav --db /tmp/km.db  # keep stores

Responses are synthetic and inserted into a SQLite store in bulk (one insert per 1,000
responses; `--db FILE` keeps the store in FILE and the smaller one beside it, and reuses them
with the same `-n`): every answer a valid value for its item, about 3%
left empty, 5% *weet ik niet* where the list has it, 15% dropped out part way, three open answers.
The first 10,000 are drawn (1,000 with `--quick`); beyond that they are copied in SQL with new
ids and later start times (drawing 100,000 takes a quarter of an hour on a loaded machine), so
the copies count as duplicates in the quality flags, which costs the same to work out.
Every export is `--all --with-scores --open-text`, run in a fresh subprocess so that its peak
resident memory (ru_maxrss, imports included) is its own.

Figures per format:

- `s`: CPU seconds (user + system) of the export call, store to file. The machine this runs on
  is often shared, so CPU time is the figure compared; wall-clock seconds are printed beside it.
- `baseline_s`: CPU seconds of the baseline writing the same frame: `pyreadstat.write_sav` and
  `write_dta` with the same labels and missing values; `DataFrame.to_csv`, `to_excel` (openpyxl)
  and `to_parquet` (pyarrow, zstd). The frame is read back from Vakstem's own file before the
  clock starts (csv's for xlsx), so it is the same data; the baseline does not read the store.
- `ratio_baseline`: s / baseline_s. `rows_s`: CPU seconds Vakstem needs to read the store and
  build the rows without writing anything (the part the baseline does not do); `write_s` is
  s - rows_s, Vakstem's own writing, and `write_ratio` write_s / baseline_s.
- `store_baseline_s` (not for xlsx): CPU seconds of pandas and pyreadstat going from the same
  store to a file of the same format: `read_sql` of the numeric answers, `pivot` to one row per
  response, the same writer without labels. It builds far less than Vakstem (codes only: no
  option, text, metadata, flag or score columns, no missing reasons or labels), so
  `ratio_store_baseline` (s / store_baseline_s) compares Vakstem with the least a script
  reading the store with pandas must do; `ratio_baseline` stays the issue's target.
- `peak_mb`: peak resident memory of the export process; the same at the smaller size shows
  whether memory grows with the number of responses.

The last line is `RESULT rows=N <fmt>_s=.. <fmt>_baseline_s=.. <fmt>_ratio_baseline=..
<fmt>_peak_mb=.. <fmt>_peak_mb_small=.. <fmt>_file_mb=.. <fmt>_store_baseline_s=..
<fmt>_ratio_store_baseline=..` for every format.
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
from machine import python_ms

ROOT = Path(__file__).resolve().parents[1]
STUDY_FILE = ROOT / "src" / "vakstem" / "studies" / "klantmanagers" / "study.yaml"
STUDY = "klantmanagers"
FORMATS = ("csv", "xlsx", "sav", "dta", "parquet")
BATCH = 1_000
#: Responses drawn one by one; beyond this the drawn ones are copied with new ids and times.
DRAWN = 10_000
T0 = dt.datetime(2026, 9, 1, 8, 0, tzinfo=dt.UTC)
OPEN_ANSWERS = (
    "Meer tijd voor klanten",
    "Minder administratie, betere systemen en een caseload die past bij de uren",
    "Intervisie met collega's helpt mij het meest",
)


# --- the store -------------------------------------------------------------------------------


def _value(study: Any, item: Any, rng: random.Random) -> Any:
    from vakstem.instrument.schema import ItemType

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
    return rng.choice(OPEN_ANSWERS)


def grow(path: Path, n: int) -> None:
    """Copy the responses already drawn (new ids, later start times) until there are `n`:
    drawing 100,000 one by one takes a quarter of an hour on a loaded two-core machine."""
    import sqlite3

    con = sqlite3.connect(path)
    have = con.execute("SELECT count(*) FROM responses").fetchone()[0]
    shifted = {
        "id": "printf('b%09d', CAST(substr(id, 2) AS INTEGER) + {have})",
        "resume_hash": "printf('bench%09d', CAST(substr(id, 2) AS INTEGER) + {have})",
        "seed": "seed + {have}",
        "started_at": "strftime('%Y-%m-%d %H:%M:%S', started_at, '+{secs} seconds') || '.000000'",
        "completed_at": (
            "strftime('%Y-%m-%d %H:%M:%S', completed_at, '+{secs} seconds') || '.000000'"
        ),
    }
    columns = [row[1] for row in con.execute("PRAGMA table_info(responses)")]
    answer_columns = [row[1] for row in con.execute("PRAGMA table_info(answers)")]
    while have < n:
        k = min(have, n - have)
        values = {"have": have, "secs": 37 * have}
        select = ", ".join(shifted.get(c, c).format(**values) for c in columns)
        answer_select = ", ".join(
            shifted["id"].replace("id", "response_id", 1).format(**values)
            if c == "response_id"
            else c
            for c in answer_columns
        )
        last = f"b{k:09d}"
        with con:
            con.execute(
                f"INSERT INTO responses ({', '.join(columns)}) SELECT {select} "
                "FROM responses WHERE id < ?",
                (last,),
            )
            con.execute(
                f"INSERT INTO answers ({', '.join(answer_columns)}) SELECT {answer_select} "
                "FROM answers WHERE response_id < ?",
                (last,),
            )
        have += k
    con.close()


def populate(url: str, n: int, seed: int = 1, drawn: int = DRAWN) -> None:
    """Load the study and insert synthetic responses until the store holds `n` (at most
    `DRAWN` drawn, the rest copied by `grow`)."""
    from vakstem.instrument.loader import load_study_file
    from vakstem.instrument.schema import ItemType
    from vakstem.store import open_database
    from vakstem.store.studies import load_study
    from vakstem.store.tables import answers, responses

    engine = open_database(url)
    study = load_study_file(STUDY_FILE)
    digest, _new = load_study(engine, study, STUDY_FILE.read_text("utf-8"))
    with engine.connect() as conn:
        have = conn.execute(
            sa.select(sa.func.count()).where(responses.c.study_id == study.id)
        ).scalar_one()
    rng = random.Random(seed + have)
    pages = list(study.pages)
    for start in range(have, min(n, drawn), BATCH):
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
    if n > drawn:
        grow(Path(url.removeprefix("sqlite:///")), n)


# --- measured in a fresh process -------------------------------------------------------------


def _usage() -> dict[str, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"peak_mb": round(usage.ru_maxrss / 1024, 1)}


def _options() -> Any:
    from vakstem.export.table import ExportOptions

    return ExportOptions(completed_only=False, with_scores=True, open_text=True)


def child_export(fmt: str, url: str, out: str) -> dict[str, Any]:
    """Vakstem's export of the study to `out`, timed from the store to the finished file."""
    from vakstem.export.api import export_to_file
    from vakstem.store import open_database

    engine = open_database(url)
    wall, cpu = time.perf_counter(), time.process_time()
    result = export_to_file(engine, STUDY, fmt, Path(out), _options(), force=True)
    figures = {
        "s": time.process_time() - cpu,
        "wall_s": time.perf_counter() - wall,
        "rows": result.rows,
        "columns": result.columns,
        "file_mb": Path(out).stat().st_size / 1e6,
    }
    return figures | _usage()


def child_rows(url: str) -> dict[str, Any]:
    """Only reading the store and building the rows (what every format does before writing)."""
    from vakstem.export.api import _rows, build_layout
    from vakstem.export.database import ResponseReader, open_source
    from vakstem.store import open_database

    engine = open_database(url)
    options = _options()
    wall, cpu = time.perf_counter(), time.process_time()
    source = open_source(engine, STUDY, options)
    layout = build_layout(source, options)
    counter = [0]
    with ResponseReader(source, options) as reader:
        for _chunk in _rows(layout, reader, counter):
            pass
    figures = {"s": time.process_time() - cpu, "wall_s": time.perf_counter() - wall}
    return figures | {"rows": counter[0]} | _usage()


def _metadata(url: str) -> Any:
    from vakstem.export.api import build_layout
    from vakstem.export.database import open_source
    from vakstem.store import open_database

    options = _options()
    return build_layout(open_source(open_database(url), STUDY, options), options)


def child_baseline(fmt: str, url: str, vakstem_file: str, out: str) -> dict[str, Any]:
    """pandas + pyreadstat writing the same frame, read back from Vakstem's file untimed."""
    import pandas as pd
    import pyreadstat

    from vakstem.export.formats.sav_format import missing_ranges
    from vakstem.export.table import Kind

    layout = _metadata(url)
    cols = layout.columns
    labels = {c.name: c.label for c in cols}
    write: Any
    if fmt == "sav":
        frame, _meta = pyreadstat.read_sav(vakstem_file, user_missing=True)
        ranges = missing_ranges(layout.codes)
        value_labels = {c.name: {float(k): v for k, v in c.value_labels.items()} for c in cols}

        def write() -> None:
            pyreadstat.write_sav(
                frame,
                out,
                column_labels={k: v[:256] for k, v in labels.items()},
                variable_value_labels={k: v for k, v in value_labels.items() if v},
                missing_ranges={c.name: ranges for c in cols if c.has_missing_codes},
            )
    elif fmt == "dta":
        frame, meta = pyreadstat.read_dta(vakstem_file, user_missing=True)
        letters = sorted(layout.codes.stata_letter(k) for k in layout.codes.all())

        def write() -> None:
            pyreadstat.write_dta(
                frame,
                out,
                column_labels={k: v[:80] for k, v in labels.items()},
                variable_value_labels=meta.variable_value_labels,
                missing_user_values={c.name: letters for c in cols if c.has_missing_codes},
            )
    elif fmt == "parquet":
        frame = pd.read_parquet(vakstem_file, dtype_backend="numpy_nullable")

        def write() -> None:
            frame.to_parquet(out, compression="zstd", index=False)
    else:
        # csv and xlsx start from Vakstem's csv (reading an xlsx back would take minutes).
        moments = [c.name for c in cols if c.kind in (Kind.DATE, Kind.DATETIME)]
        frame = pd.read_csv(
            vakstem_file, dtype_backend="numpy_nullable", parse_dates=moments, low_memory=False
        )
        if fmt == "csv":

            def write() -> None:
                frame.to_csv(out, index=False)
        else:

            def write() -> None:
                frame.to_excel(out, index=False, engine="openpyxl")

    wall, cpu = time.perf_counter(), time.process_time()
    write()
    figures = {"s": time.process_time() - cpu, "wall_s": time.perf_counter() - wall}
    return figures | {"file_mb": Path(out).stat().st_size / 1e6} | _usage()


def child_store_baseline(fmt: str, url: str, out: str) -> dict[str, Any]:
    """pandas and pyreadstat from the same store to a file, as a researcher might script it:
    `read_sql` of the numeric answers of the same responses, `pivot` to one row per response,
    then the same writer as the baseline, without labels. Codes only (no multiple-choice or
    text columns, missing reasons, scores, flags or metadata), so it is a lower bound for
    reading the store with pandas, timed from the store to the file."""
    import sqlite3

    import pandas as pd
    import pyreadstat

    wall, cpu = time.perf_counter(), time.process_time()
    with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
        long = pd.read_sql_query(
            "SELECT a.response_id, a.variable, a.value FROM answers a "
            "JOIN responses r ON r.id = a.response_id "
            "WHERE r.study_id = ? AND r.is_test = 0 AND typeof(a.value) IN ('integer', 'real')",
            conn,
            params=(STUDY,),
        )
    frame = long.pivot(index="response_id", columns="variable", values="value").reset_index()
    if fmt == "sav":
        pyreadstat.write_sav(frame, out)
    elif fmt == "dta":
        pyreadstat.write_dta(frame, out)
    elif fmt == "parquet":
        frame.to_parquet(out, compression="zstd", index=False)
    elif fmt == "csv":
        frame.to_csv(out, index=False)
    else:
        frame.to_excel(out, index=False, engine="openpyxl")
    figures = {"s": time.process_time() - cpu, "wall_s": time.perf_counter() - wall}
    return figures | {"shape": list(frame.shape)} | _usage()


# --- the run ---------------------------------------------------------------------------------


def _child(*args: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", *args],
        capture_output=True,
        text=True,
        env=os.environ | {"PYTHONPATH": str(ROOT / "src")},
    )
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-3:]
        raise SystemExit(f"child {args[0]} {args[1:2]} failed:\n" + "\n".join(tail))
    figures: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return figures


def _store(path: Path, n: int, drawn: int) -> str:
    url = f"sqlite:///{path}"
    began = time.perf_counter()
    populate(url, n, drawn=drawn)
    print(f"store: {n} responses in {path} ({time.perf_counter() - began:.0f} s to prepare)")
    return url


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("-n", type=int, help="responses (default 100,000; --quick 3,000)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="3,000 responses (1,000 drawn, the rest copied) and 600, no store baseline",
    )
    parser.add_argument(
        "--store-baseline",
        action=argparse.BooleanOptionalAction,
        help="also pandas from the same store (default: on, off with --quick)",
    )
    parser.add_argument("--formats", default=",".join(FORMATS))
    parser.add_argument("--db", help="SQLite file to create or reuse for the large store")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "export":
            figures = child_export(*rest)
        elif kind == "rows":
            figures = child_rows(*rest)
        elif kind == "store":
            figures = child_store_baseline(*rest)
        else:
            figures = child_baseline(*rest)
        print(json.dumps(figures))
        return
    # --quick stays under a minute on a slow machine: fewer responses, fewer drawn (the rest
    # copied, as beyond 10,000 in the full run) and no store baseline; 21 child processes
    # importing pandas and Vakstem take most of it.
    n = args.n or (3_000 if args.quick else 100_000)
    drawn = 1_000 if args.quick else DRAWN
    with_store = not args.quick if args.store_baseline is None else args.store_baseline
    # The smaller store for the memory comparison: a tenth (a fifth for --quick).
    small = max(n // 5 if args.quick else n // 10, 1)
    formats = [f for f in args.formats.split(",") if f]
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise SystemExit(f"unknown format(s) {', '.join(unknown)}; choose from {FORMATS}")
    work = Path(tempfile.mkdtemp(prefix="vakstem-bench-export-"))
    big = Path(args.db).resolve() if args.db else work / "km.db"
    url = _store(big, n, drawn)
    small_url = _store(big.with_name(f"{big.stem}-{small}{big.suffix}"), small, drawn)
    rows = _child("rows", url)
    print(f"reading the store and building the rows: {rows['s']:.1f} s CPU, {rows['peak_mb']} MB")
    result: dict[str, Any] = {"rows": rows["rows"], "rows_s": round(rows["s"], 2)}
    # csv first: the xlsx baseline reads its frame from Vakstem's csv.
    order = sorted(formats, key=lambda f: (f != "csv", FORMATS.index(f)))
    if "xlsx" in order and "csv" not in order:
        order.insert(0, "csv")
    header = (
        f"{'format':8} {'cpu s':>7} {'wall s':>7} {'base s':>7} {'ratio':>6} {'write s':>7} "
        f"{'w ratio':>7} {'peak MB':>8} {'small MB':>8} {'base MB':>8} {'file MB':>8} "
        f"{'base file':>9} {'store s':>7} {'ratio':>6}"
    )
    print(f"{n} responses ({small} for the memory comparison); seconds are CPU seconds")
    print(header)
    kept: dict[str, Path] = {}
    for fmt in order:
        out = work / f"vakstem.{fmt}"
        mine = _child("export", fmt, url, str(out))
        kept[fmt] = out
        little = _child("export", fmt, small_url, str(work / f"small.{fmt}"))
        source = kept["csv"] if fmt == "xlsx" else out
        base = _child("baseline", fmt, url, str(source), str(work / f"baseline.{fmt}"))
        ratio = mine["s"] / base["s"] if base["s"] > 0 else float("nan")
        # pandas' to_excel of the whole table would add minutes for a format already met.
        store = (
            _child("store", fmt, url, str(work / f"store.{fmt}"))
            if with_store and fmt != "xlsx"
            else None
        )
        store_ratio = mine["s"] / store["s"] if store and store["s"] > 0 else float("nan")
        store_text = f"{store['s']:7.1f} {store_ratio:6.2f}" if store else f"{'-':>7} {'-':>6}"
        own = max(mine["s"] - rows["s"], 0.0)
        own_ratio = own / base["s"] if base["s"] > 0 else float("nan")
        print(
            f"{fmt:8} {mine['s']:7.1f} {mine['wall_s']:7.1f} {base['s']:7.1f} {ratio:6.2f} "
            f"{own:7.1f} {own_ratio:7.2f} {mine['peak_mb']:8.0f} {little['peak_mb']:8.0f} "
            f"{base['peak_mb']:8.0f} "
            f"{mine['file_mb']:8.1f} {base['file_mb']:9.1f} {store_text}",
            flush=True,
        )
        if fmt in formats:
            result |= {
                f"{fmt}_s": round(mine["s"], 2),
                f"{fmt}_wall_s": round(mine["wall_s"], 2),
                f"{fmt}_baseline_s": round(base["s"], 2),
                f"{fmt}_ratio_baseline": round(ratio, 2),
                f"{fmt}_write_s": round(own, 2),
                f"{fmt}_write_ratio": round(own_ratio, 2),
                f"{fmt}_peak_mb": mine["peak_mb"],
                f"{fmt}_peak_mb_small": little["peak_mb"],
                f"{fmt}_baseline_peak_mb": base["peak_mb"],
                f"{fmt}_file_mb": round(mine["file_mb"], 1),
            }
            if store:
                result |= {
                    f"{fmt}_store_baseline_s": round(store["s"], 2),
                    f"{fmt}_ratio_store_baseline": round(store_ratio, 2),
                    f"{fmt}_store_baseline_peak_mb": store["peak_mb"],
                }
        for leftover in [*work.glob("small.*"), *work.glob("store.*")]:
            leftover.unlink()
    for leftover in work.iterdir():
        leftover.unlink()
    work.rmdir()
    print(f"load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    result["python_ms"] = python_ms()
    print("RESULT " + " ".join(f"{k}={v}" for k, v in result.items()))


if __name__ == "__main__":
    main()
