"""`vakstem` starts without importing what only some commands need: every command, `--help`
included, paid three to four seconds for the analysis plan, the SEM engine, the web server,
pandas and the simulator before they were imported where they are used (and a fifth of a
second each for Alembic and openpyxl, until the ninth session)."""

from __future__ import annotations

import json
import subprocess
import sys

from vakstem.analysis.plan import STEPS, PlanOptions
from vakstem.commands import analyse

HEAVY = (
    "scipy.stats",
    "statsmodels",
    "matplotlib",
    "uvicorn",
    "fastapi",
    "vakstem.analysis.plan",
    "vakstem.analysis.sem.api",
    "vakstem.analysis.report",
    "vakstem.web.app",
    "vakstem.export.api",
    "pandas",
    "vakstem.simulate",
    "vakstem.feedback.data",
    # Migrations (a database at the newest revision opens without them) and workbooks.
    "alembic",
    "openpyxl",
)


def test_the_command_line_imports_no_analysis_or_web_server() -> None:
    code = (
        "import json, sys; import vakstem.cli; "
        f"print(json.dumps([m for m in {list(HEAVY)!r} if m in sys.modules]))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == []


def test_the_analyse_command_repeats_the_plans_defaults() -> None:
    assert PlanOptions().seed == analyse.DEFAULT_SEED
    assert analyse.STEPS == STEPS
    assert tuple(analyse.STEP_TITLES) == STEPS
