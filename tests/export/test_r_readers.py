"""The files read in R the way a researcher would: haven and foreign for .sav/.dta, readxl for
.xlsx, read.csv for csv. Independent of pyreadstat's own reader; skipped without Rscript."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from .factories import layout
from .test_formats import write

pytestmark = pytest.mark.skipif(shutil.which("Rscript") is None, reason="needs Rscript (R 4)")

R_SCRIPT = r"""
args <- commandArgs(trailingOnly = TRUE)
suppressMessages({library(haven); library(jsonlite)})
sav <- read_sav(args[1], user_na = TRUE)
old <- suppressWarnings(foreign::read.spss(args[1], to.data.frame = TRUE,
                                           use.value.labels = FALSE))
dta <- read_dta(args[2])
xl <- readxl::read_excel(args[3], sheet = "data")
csv <- read.csv(args[4], encoding = "UTF-8")
out <- list(
  sav_provincie = as.numeric(sav$provincie),
  sav_br_4 = as.numeric(sav$br_4),
  sav_na_range = attr(sav$br_1, "na_range"),
  sav_label = attr(sav$functie, "label"),
  sav_labels = as.list(attr(sav$br_4, "labels")),
  foreign_provincie = old$provincie,
  foreign_pa_1 = old$pa_1,
  dta_tags = list(provincie = na_tag(dta$provincie), pa_1 = na_tag(dta$pa_1),
                  br_4 = na_tag(dta$br_4), br_1 = na_tag(dta$br_1)),
  dta_functie = as.numeric(dta$functie),
  dta_labels = as.list(attr(dta$br_4, "labels")),
  dta_label_tags = as.list(setNames(na_tag(attr(dta$br_4, "labels")),
                                    names(attr(dta$br_4, "labels")))),
  dta_date = format(dta$in_dienst),
  xl_provincie = xl$provincie,
  xl_started = format(xl$started_at, "%Y-%m-%d %H:%M:%S"),
  csv_provincie = csv$provincie,
  csv_uren = csv$uren
)
cat(toJSON(out, auto_unbox = FALSE, na = "null", digits = NA))
"""


def test_r_reads_labels_and_missing_codes_from_every_file(tmp_path: Path) -> None:
    lay = layout()
    paths = {fmt: write(fmt, tmp_path, lay)[0] for fmt in ("sav", "dta", "xlsx", "csv")}
    script = tmp_path / "read.R"
    script.write_text(R_SCRIPT, "utf-8")
    proc = subprocess.run(
        ["Rscript", str(script), *(str(paths[f]) for f in ("sav", "dta", "xlsx", "csv"))],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    got: dict[str, Any] = json.loads(proc.stdout)
    # Rows: r1 complete, r2 skipped/hidden/weet ik niet, r3 dropped out on page "werk".
    assert got["sav_provincie"] == [7, -9, 7]
    assert got["sav_br_4"] == [-7, -7, -6]
    assert got["sav_na_range"] == [-9, -6]
    assert got["sav_label"] == ["Waar ligt het zwaartepunt van uw werk?"]
    assert got["sav_labels"]["Weet ik niet [9]"] == [-7]
    assert got["sav_labels"]["Helemaal eens"] == [5]
    # foreign honours the user-missing range: codes become NA.
    assert got["foreign_provincie"] == [7, None, 7]
    assert got["foreign_pa_1"] == [3, None, None]
    assert got["dta_tags"] == {
        "provincie": [None, "a", None],
        "pa_1": [None, "b", "d"],
        "br_4": ["c", "c", "d"],
        "br_1": [None, None, "d"],
    }
    assert got["dta_functie"] == [6, 6, 6]
    assert got["dta_labels"]["Helemaal eens"] == [5]
    # Labels of the extended missing values .a–.d, as Stata shows them.
    assert got["dta_label_tags"]["Weet ik niet [9]"] == ["c"]
    assert got["dta_label_tags"]["niet beantwoord"] == ["a"]
    assert got["dta_label_tags"]["afgehaakt vóór deze pagina"] == ["d"]
    assert got["dta_date"][0] == "2019-04-01"
    assert got["xl_provincie"] == [7, -9, 7]
    assert got["xl_started"] == ["2026-03-02 09:30:00"] * 3
    assert got["csv_provincie"] == [7, -9, 7]
    assert got["csv_uren"] == [36.5, 36.5, -9]
