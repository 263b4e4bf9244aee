"""`simulate`: draw respondents for a stored study and submit them through the respondent
service, returning what was stored and the true values the data were drawn from."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy.engine import Engine

from vakstem.instrument.schema import Study
from vakstem.service.types import StudyNotFound
from vakstem.simulate.draw import FIELDWORK_DAYS, SimulationError, draw_population
from vakstem.simulate.population import Population, PopulationError, check, load_population
from vakstem.simulate.truth import true_values
from vakstem.simulate.writer import Progress, WriteStats, write_responses
from vakstem.store.studies import get_study


@dataclass(frozen=True)
class SimulationResult:
    """What a simulation stored, and the truth it was drawn from."""

    study_id: str
    n: int
    seed: int
    organisations: int
    #: Responses per final status as the service left them: completed, active (dropouts),
    #: refused; test responses are counted in these and also in `tests`.
    statuses: dict[str, int]
    tests: int
    #: Respondents per kind as drawn (normal, refused, test, dropout, speeder, ...).
    kinds: dict[str, int]
    submissions: int
    seconds: float
    response_ids: tuple[str, ...]
    truth: dict[str, Any]
    frame: pd.DataFrame

    @property
    def rate(self) -> float:
        """Responses written per second."""
        return self.n / self.seconds if self.seconds > 0 else float("inf")

    def truth_json(self) -> str:
        return json.dumps(self.truth, indent=2, ensure_ascii=False)


def _shipped(study_id: str, name: str) -> Path | None:
    # Study ids are identifiers ([a-z][a-z0-9_]*), so they cannot climb out of the folder.
    if not study_id.replace("_", "").isalnum():
        return None
    path = Path(str(resources.files("vakstem.studies"))) / study_id / name
    return path if path.is_file() else None


def shipped_study_file(study_id: str) -> Path | None:
    """The study file shipped with Vakstem for `study_id`, if there is one."""
    return _shipped(study_id, "study.yaml")


def population_file(study_id: str) -> Path | None:
    """The population model shipped beside a study, if the study has one."""
    return _shipped(study_id, "population.yaml")


def population_for(study: Study, population: Population | Path | None = None) -> Population:
    """The population model to use: given, read from a path, or shipped beside the study."""
    if isinstance(population, Population):
        model = population
    else:
        path = population if population is not None else population_file(study.id)
        if path is None:
            raise SimulationError(
                f"study {study.id!r} has no population model (population.yaml beside its "
                "study file); the simulator needs one to draw respondents from"
            )
        model = load_population(path)
    check(model, study)
    return model


def default_start(now: datetime | None = None) -> datetime:
    """Fieldwork start so that the whole fieldwork lies before today: midnight UTC, so many
    days ago."""
    today = (
        (now or datetime.now(UTC))
        .astimezone(UTC)
        .replace(hour=0, minute=0, second=0, microsecond=0)
    )
    return today - timedelta(days=FIELDWORK_DAYS + 1)


def simulate(
    engine: Engine,
    study_id: str,
    *,
    n: int,
    seed: int,
    organisations: int | None = None,
    population: Population | Path | None = None,
    start: datetime | None = None,
    bulk: bool = False,
    batch_size: int = 500,
    mess: bool = True,
    progress: Progress | None = None,
) -> SimulationResult:
    """Draw `n` respondents for the stored study `study_id` and submit them page by page
    through `ResponseService` (the study must be open, or a draft for test responses only).

    `organisations` is the number of municipalities respondents are spread over (default: the
    population's `default_count`); `start` the first day of fieldwork (default: four weeks
    before today). Same seed, same answers.
    """
    if n <= 0:
        raise SimulationError(f"n must be at least 1, not {n}")
    if organisations is not None and organisations <= 0:
        raise SimulationError(f"organisations must be at least 1, not {organisations}")
    try:
        stored = get_study(engine, study_id)
    except StudyNotFound:
        raise SimulationError(f"unknown study {study_id!r}: load it first") from None
    study = stored.study
    try:
        model = population_for(study, population)
    except PopulationError as exc:
        raise SimulationError(f"the population model of {study_id!r} is unusable: {exc}") from exc
    count = model.organisations.default_count if organisations is None else organisations
    begin = start or default_start()
    frame = draw_population(
        study, model, n, seed, organisations=count, mess=mess, start=begin.date()
    )
    stats: WriteStats = write_responses(
        engine,
        study_id,
        study,
        frame,
        start=begin,
        seed=seed,
        bulk=bulk,
        batch_size=batch_size,
        progress=progress,
    )
    truth = true_values(study, model)
    truth["simulation"] = {
        "study": study_id,
        "instrument_version": stored.version_hash,
        "n": n,
        "seed": seed,
        "organisations": count,
        "fieldwork_start": begin.isoformat(),
        "statuses": stats.statuses,
        "tests": stats.tests,
        "kinds": {str(k): int(v) for k, v in frame["_kind"].value_counts().items()},
    }
    return SimulationResult(
        study_id=study_id,
        n=n,
        seed=seed,
        organisations=count,
        statuses=dict(stats.statuses),
        tests=stats.tests,
        kinds=truth["simulation"]["kinds"],
        submissions=stats.submissions,
        seconds=stats.seconds,
        response_ids=tuple(stats.response_ids),
        truth=truth,
        frame=frame,
    )


#: The demo's simulated fieldwork: fixed, so every `make demo` shows the same data.
DEMO_STUDY = "klantmanagers"
DEMO_N = 500
DEMO_ORGANISATIONS = 40
DEMO_SEED = 20261126


def simulate_demo(engine: Engine, data_dir: Path | None = None, *, n: int = DEMO_N) -> list[str]:
    """Give the demo's klantmanager study `n` (500) simulated responses from 40 organisations
    (fewer when `n` is smaller), once: a database that already has responses for it is left
    alone. Returns lines to print: the study's response counts (the same lines when run again
    on the same database)."""
    from vakstem.simulate.writer import status_counts

    try:
        get_study(engine, DEMO_STUDY)
    except StudyNotFound:
        return [f"{DEMO_STUDY}: not loaded, so no simulated responses"]
    target = data_dir / f"simulated-{DEMO_STUDY}-truth.json" if data_dir is not None else None
    organisations = min(DEMO_ORGANISATIONS, n)
    lines: list[str] = []
    counts, tests = status_counts(engine, DEMO_STUDY)
    if not sum(counts.values()):
        if n < 1:
            return [f"{DEMO_STUDY}: no simulated responses (0 asked for)"]
        try:
            result = simulate(
                engine,
                DEMO_STUDY,
                n=n,
                seed=DEMO_SEED,
                organisations=organisations,
                bulk=True,
                batch_size=50,
            )
        except SimulationError as exc:
            # E.g. the study is archived or closed in this database: the demo still serves.
            return [f"{DEMO_STUDY}: no simulated responses ({exc})"]
        if target is not None:
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(result.truth_json() + "\n", encoding="utf-8")
            except OSError as exc:
                lines.append(f"could not write the true values to {target}: {exc}")
        counts, tests = status_counts(engine, DEMO_STUDY)
    statuses = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    lines.insert(
        0,
        f"{DEMO_STUDY}: {sum(counts.values())} responses ({statuses}; of which test {tests})",
    )
    if target is not None and target.is_file():
        lines.append(_pilot_line(target, fallback=(n, organisations)))
    return lines


def _pilot_line(target: Path, fallback: tuple[int, int]) -> str:
    """The line naming the truth file, with the size it records (an earlier demo run may have
    asked for another number of responses than this one)."""
    n, organisations = fallback
    try:
        recorded = json.loads(target.read_text(encoding="utf-8"))["simulation"]
        n, organisations = int(recorded["n"]), int(recorded["organisations"])
    except (OSError, ValueError, KeyError, TypeError):
        pass  # an unreadable or hand-edited file: name the size asked for now
    return (
        f"{DEMO_STUDY}: simulated pilot data ({n} responses from {organisations} "
        f"organisations, seed {DEMO_SEED}); true values in {target}"
    )
