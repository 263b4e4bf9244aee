"""`vakstem analyse STUDY` on the store's data stores its results as an analysis run (the
source of the public summary's findings); `--no-save` and `--data` runs store nothing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer
from typer.testing import CliRunner

from vakstem.commands.analyse import analyse
from vakstem.export.codebook import find_study_file
from vakstem.instrument.loader import load_study_file
from vakstem.simulate.api import population_for
from vakstem.simulate.draw import draw_population
from vakstem.simulate.writer import write_responses
from vakstem.store import open_database
from vakstem.store.analysis_runs import latest_run
from vakstem.store.studies import load_study, set_status


def test_analyse_from_the_store_saves_the_run_unless_told_not_to(
    database_url: str, tmp_path: Path
) -> None:
    study_file = find_study_file("klantmanagers")
    study = load_study_file(study_file)
    engine = open_database(database_url)
    try:
        load_study(engine, study, study_file.read_text("utf-8"))
        set_status(engine, study.id, "open")
        frame = draw_population(study, population_for(study), 30, seed=3)
        write_responses(
            engine, study.id, study, frame, start=dt.datetime(2026, 3, 2, tzinfo=dt.UTC), seed=3
        )
        app = typer.Typer()
        app.command()(analyse)
        runner = CliRunner()
        base = ["klantmanagers", "--database-url", database_url, "--steps", "quality,scores"]
        skipped = runner.invoke(app, [*base, "--out", str(tmp_path / "a.html"), "--no-save"])
        assert skipped.exit_code == 0, skipped.output
        assert latest_run(engine, study.id) is None
        saved = runner.invoke(app, [*base, "--out", str(tmp_path / "b.html")])
        assert saved.exit_code == 0, saved.output
        assert "stored as analysis run" in saved.output
        run = latest_run(engine, study.id)
        assert run is not None
        assert run.n_used == run.results["steps"]["quality"]["analysed"] > 0
        assert run.results["steps"]["scores"]["status"] == "ok"
    finally:
        engine.dispose()
