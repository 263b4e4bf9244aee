"""Organisation benchmark reports: for each organisation with at least k completed responses, one
self-contained HTML file (inline CSS and SVG, opens offline) comparing it with all other
organisations on the scales, HR practices and workload; optionally also as PDF, printed by
headless Chromium.

Which organisations get a report is settled by `vakstem.feedback.disclosure`: the breakdown of
all respondents over organisations (unknown organisation included) is one line, so when the
respondents without a report would form a group of 1 to k-1, the smallest qualifying
organisation goes without a report too; and an organisation whose "all others" group would be
under k gets none. Reports give the numbers of respondents in bands, never exactly, so
comparing reports with each other or with the public summary cannot reveal a small group.
Organisations without a report are not named anywhere.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
from sqlalchemy.engine import Engine

from vakstem.feedback import texts
from vakstem.feedback.data import CASELOAD, ORG, FeedbackData, load_feedback_data
from vakstem.feedback.disclosure import Count, Disclosure, Quartiles
from vakstem.feedback.plots import PlotRow, Series, score_plot
from vakstem.feedback.render import render
from vakstem.instrument.schema import Scale, text_in

DEFAULT_CHROMIUM = "/usr/bin/chromium"

#: Scale blocks compared in a report, in order, with their heading keys.
BENCHMARK_BLOCKS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("all_professional_action", ("professional_action",)),
    ("all_hrm", ("hrm_ability", "hrm_motivation", "hrm_opportunity")),
    ("block_working_conditions", ("working_conditions",)),
    ("block_outcome", ("outcome",)),
)

_UNKNOWN = "\x00unknown"
_SAFE_CODE = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


class BenchmarkError(Exception):
    """A benchmark report cannot be made or written; the message says why and what to do."""


@dataclass(frozen=True)
class BenchmarkRow:
    label: str
    scale: Scale | None
    org: Quartiles | None
    others: Quartiles | None


@dataclass(frozen=True)
class BenchmarkGroup:
    heading_key: str
    rows: tuple[BenchmarkRow, ...]


@dataclass(frozen=True)
class Benchmark:
    """One organisation's report. `n` and `others_n` are kept for audits; reports show bands."""

    code: str
    name: str
    n: Count
    others_n: Count
    groups: tuple[BenchmarkGroup, ...]
    caseload: BenchmarkRow | None


def band(n: int, k: int) -> str:
    """A number of respondents as a band ("10-19", "200+"), starting at k."""
    edges = [k] + [e for e in (20, 30, 50, 100, 200, 500) if e > k]
    for low, high in itertools.pairwise(edges):
        if low <= n < high:
            return f"{low}–{high - 1}"
    return f"{edges[-1]}+"


def organisation_name(data: FeedbackData, code: str) -> str:
    """The name of a qualifying organisation: its municipality, or its organisation code."""
    study = data.study
    cluster = data.profile.cluster
    item = study.item(cluster) if cluster else None
    if item is not None and code.isdigit():
        for choice in study.choices_of(item):
            if str(choice.code) == code:
                return text_in(choice.label, "nl", study.default_language)
    return code


def qualifying(data: FeedbackData) -> tuple[Disclosure, dict[str, tuple[Count, Count]]]:
    """The organisations that get a report, with their count and the count of all others.

    First the breakdown over organisations alone decides who could have a report; then, with
    each candidate's "all others" group added, it is settled again with only the organisations
    still in the running until nothing changes: an
    organisation without a report publishes nothing, not even its "all others" group (which
    could otherwise be subtracted from another report's).
    """
    orgs = data.frame[ORG]
    cells: dict[str, list[str]] = {}
    for rid, code in orgs.items():
        cells.setdefault(code if isinstance(code, str) else _UNKNOWN, []).append(str(rid))
    cells.setdefault(_UNKNOWN, [])
    # First the breakdown over organisations on its own: who could have a report at all.
    first = Disclosure(data.k)
    first_line = first.line(first.total(data.ids), cells, shown=[c for c in cells if c != _UNKNOWN])
    first.finalize()
    candidates = sorted(c for c in cells if c != _UNKNOWN and first_line[c].value is not None)
    while True:
        disclosure = Disclosure(data.k)
        everyone = disclosure.total(data.ids)
        line = disclosure.line(everyone, cells, shown=candidates)
        pairs: dict[str, tuple[Count, Count]] = {}
        for code in candidates:
            own = set(cells[code])
            others = [rid for rid in data.ids if rid not in own]
            # The same count in a second line: suppressed too when its complement is too small.
            binary = disclosure.line(everyone, {"org": line[code], "others": others})
            pairs[code] = (line[code], binary["others"])
        disclosure.finalize()
        kept = sorted(
            code
            for code, (own_n, others_n) in pairs.items()
            if own_n.value is not None and others_n.value is not None
        )
        if kept == candidates:
            return disclosure, pairs
        candidates = kept


def build_benchmarks(data: FeedbackData) -> list[Benchmark]:
    """A report per qualifying organisation, sorted by code."""
    _disclosure, orgs = qualifying(data)
    stats = Disclosure(data.k)
    reports = []
    frame = data.frame
    for code in sorted(orgs):
        n, others_n = orgs[code]
        mask = frame[ORG] == code
        groups = []
        for key, blocks in BENCHMARK_BLOCKS:
            rows = tuple(
                BenchmarkRow(
                    texts.scale_label(data.study, scale, "nl"),
                    scale,
                    stats.quartiles(data.scores(scale.id)[mask]),
                    stats.quartiles(data.scores(scale.id)[~mask]),
                )
                for scale in data.study.scales
                if scale.block in blocks
            )
            if rows:
                groups.append(BenchmarkGroup(key, rows))
        caseload = None
        if data.profile.caseload is not None:
            values: pd.Series = frame[CASELOAD]
            caseload = BenchmarkRow(
                "", None, stats.quartiles(values[mask]), stats.quartiles(values[~mask])
            )
        reports.append(
            Benchmark(code, organisation_name(data, code), n, others_n, tuple(groups), caseload)
        )
    return reports


def render_benchmark(
    data: FeedbackData, report: Benchmark, language: str = "nl", *, today: date | None = None
) -> str:
    """The report as one self-contained HTML document."""
    lang = "en" if language == "en" else "nl"
    study = data.study
    plots = []
    for i, group in enumerate(report.groups):
        rows = []
        for row in group.rows:
            label = texts.scale_label(study, row.scale, lang) if row.scale else row.label
            org, others = row.org, row.others
            rows.append(
                PlotRow(
                    label,
                    (
                        Series("org", *(_q(org))),
                        Series("others", *(_q(others))),
                    ),
                )
            )
        plots.append(
            score_plot(
                rows,
                title=texts.t(group.heading_key, lang),
                description=f"{texts.t('legend_org', lang)}; {texts.t('legend_others', lang)}. "
                + texts.t("plot_alt", lang),
                plot_id=f"bench-{i}",
            )
        )
    css = (Path(__file__).parent / "templates" / "report.css").read_text(encoding="utf-8")
    assert report.n.value is not None and report.others_n.value is not None
    html = render(
        "benchmark.html",
        language=lang,
        study=study,
        report=report,
        title=texts.t("bench_title", lang, code=report.code),
        study_title=text_in(study.title, lang, study.default_language),
        org_band=band(report.n.value, data.k),
        others_band=band(report.others_n.value, data.k),
        plots=plots,
        css=css,
        k=data.k,
        label=lambda scale: texts.scale_label(study, scale, lang),
        explain=lambda scale: texts.explanation(study, scale, lang),
        made=(today or datetime.now(UTC).date()).isoformat(),
    )
    return str(html)


def _q(q: Quartiles | None) -> tuple[float | None, float | None, float | None]:
    return (q.q1, q.median, q.q3) if q is not None else (None, None, None)


def chromium_executable(chromium: str | None = None) -> str:
    """The Chromium to print PDFs with; a clear `BenchmarkError` when there is none."""
    wanted = chromium or os.environ.get("VAKSTEM_CHROMIUM") or DEFAULT_CHROMIUM
    found = wanted if Path(wanted).is_file() else shutil.which(wanted)
    if not found:
        raise BenchmarkError(
            f"Chromium not found at {wanted!r}: PDF reports are printed by headless Chromium. "
            "Install it (apt-get install chromium), set VAKSTEM_CHROMIUM to its path, or leave "
            "out --pdf to write HTML only."
        )
    return found


def html_to_pdf(html_file: Path, pdf_file: Path, *, chromium: str | None = None) -> None:
    """Print an HTML file to PDF with headless Chromium (no network, A4 from the CSS)."""
    exe = chromium_executable(chromium)
    with tempfile.TemporaryDirectory(prefix="vakstem-chromium-") as profile:
        command = [
            exe,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-extensions",
            "--no-first-run",
            "--no-pdf-header-footer",
            f"--user-data-dir={profile}",
            f"--print-to-pdf={pdf_file}",
            html_file.resolve().as_uri(),
        ]
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        except subprocess.TimeoutExpired:
            raise BenchmarkError(f"Chromium took too long printing {html_file.name}") from None
    if result.returncode != 0 or not pdf_file.is_file() or pdf_file.stat().st_size == 0:
        detail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        raise BenchmarkError(f"Chromium could not print {html_file.name}: {detail[0]}")


@dataclass(frozen=True)
class WrittenReport:
    code: str
    html: Path
    pdf: Path | None


def write_benchmarks(
    engine: Engine,
    study_id: str,
    out_dir: Path,
    *,
    pdf: bool = False,
    language: str = "nl",
    chromium: str | None = None,
    on_report: Callable[[str], None] | None = None,
    data: FeedbackData | None = None,
) -> list[WrittenReport]:
    """Write `<code>.html` (and `<code>.pdf`) per qualifying organisation into `out_dir`.

    Raises `StudyNotFound` for an unknown study and `BenchmarkError` for a folder that cannot
    be written or a missing Chromium (checked before any work when `pdf` is asked for)."""
    if pdf:
        chromium = chromium_executable(chromium)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise BenchmarkError(f"cannot write reports to {out_dir}: it is a file, not a folder")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BenchmarkError(f"cannot create folder {out_dir}: {exc.strerror}") from None
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise BenchmarkError(f"cannot write reports to {out_dir}: no permission")
    data = data if data is not None else load_feedback_data(engine, study_id)
    written = []
    for report in build_benchmarks(data):
        if not _SAFE_CODE.match(report.code):
            raise BenchmarkError(f"organisation code {report.code!r} cannot be a file name")
        html_file = out_dir / f"{report.code}.html"
        html_file.write_text(render_benchmark(data, report, language), encoding="utf-8")
        pdf_file = None
        if pdf:
            pdf_file = out_dir / f"{report.code}.pdf"
            html_to_pdf(html_file, pdf_file, chromium=chromium)
        written.append(WrittenReport(report.code, html_file, pdf_file))
        if on_report is not None:
            on_report(report.code)
    return written


def benchmark_html(engine: Engine, study_id: str, code: str, language: str = "nl") -> str:
    """One organisation's report as HTML (for a console download); `BenchmarkError` when the
    organisation has no report, without saying whether it took part at all."""
    data = load_feedback_data(engine, study_id)
    for report in build_benchmarks(data):
        if report.code == code:
            return render_benchmark(data, report, language)
    raise BenchmarkError(f"no benchmark report for organisation {code!r}")


__all__: Sequence[str] = (
    "Benchmark",
    "BenchmarkError",
    "benchmark_html",
    "build_benchmarks",
    "html_to_pdf",
    "render_benchmark",
    "write_benchmarks",
)
