"""The plan's steps on simulated klantmanager data: the data-quality rule, reproducibility by
seed, and every bad input reported as a message (never a traceback)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest

from vakstem.analysis.plan import (
    STEPS,
    PlanError,
    PlanOptions,
    data_from_csv,
    data_from_records,
    plan_text,
    run_plan,
    simulated_records,
)
from vakstem.analysis.report import render_report
from vakstem.export.codebook import find_study_file
from vakstem.export.table import ResponseRecord
from vakstem.instrument.loader import load_study_file
from vakstem.instrument.schema import Study
from vakstem.service.dashboard import answer_blocks

CHEAP = ("quality", "scores", "reliability", "open_answers")


@pytest.fixture(scope="module")
def study() -> Study:
    return load_study_file(find_study_file("klantmanagers"))


@pytest.fixture(scope="module")
def clean(study: Study) -> list[ResponseRecord]:
    records, _truth = simulated_records(study, 300, seed=4, mess=False)
    return records


def test_quality_rule_flags_and_excludes_speeder_duplicate_straightliner_and_test(
    study: Study, clean: list[ResponseRecord]
) -> None:
    records = list(clean[:80])
    first = records[0]
    # A speeder: done in a tenth of the others' time.
    records[0] = dataclasses.replace(
        first, completed_at=first.started_at + dt.timedelta(seconds=60)
    )
    # A duplicate: the answers of response 2 sent again a day later.
    records[1] = dataclasses.replace(
        records[2],
        response_id="copy",
        started_at=records[2].started_at + dt.timedelta(days=1),
        completed_at=records[2].completed_at + dt.timedelta(days=1),  # type: ignore[operator]
    )
    # A straightliner: the same answer on every professional-action item (a block declared
    # on the scales, spread over several pages).
    block = answer_blocks(study)[-1]
    assert len(block) >= 10 and "kv_1" in block
    records[3] = dataclasses.replace(
        records[3], answers={**records[3].answers, **dict.fromkeys(block, 4)}
    )
    records[4] = dataclasses.replace(records[4], is_test=True)
    records[5] = dataclasses.replace(records[5], status="active", completed_at=None)
    result = run_plan(study, data_from_records(study, records), PlanOptions(steps=("quality",)))
    q = result.to_dict()["steps"]["quality"]
    assert q["status"] == "ok", q["message"]
    assert q["responses"] == 80 and q["completed"] == 79
    assert q["flags"]["speeder"] >= 1 and q["flags"]["duplicate"] == 1
    assert q["flags"]["straightliner"] == 1 and q["flags"]["test"] == 1
    assert q["exclusion_rule"] == ["speeder", "straightliner", "duplicate", "test"]
    assert q["excluded"] == sum(q["excluded_by"].values()) >= 4
    assert q["analysed"] == 79 - q["excluded"]


def test_include_test_keeps_test_responses_and_says_so(
    study: Study, clean: list[ResponseRecord]
) -> None:
    records = [dataclasses.replace(r, is_test=True) if i < 3 else r for i, r in enumerate(clean)]
    data = data_from_records(study, records)
    kept = run_plan(study, data, PlanOptions(steps=("quality",), include_test=True)).to_dict()
    dropped = run_plan(study, data, PlanOptions(steps=("quality",))).to_dict()
    q_kept, q_dropped = kept["steps"]["quality"], dropped["steps"]["quality"]
    assert "test" not in q_kept["exclusion_rule"] and q_kept["notes"]
    assert q_dropped["excluded_by"]["test"] == 3
    assert q_kept["analysed"] == q_dropped["analysed"] + 3


def test_same_seed_gives_identical_results_except_the_timestamp(
    study: Study, clean: list[ResponseRecord]
) -> None:
    data = data_from_records(study, clean)
    options = PlanOptions(seed=99, bootstrap=3, steps=(*CHEAP, "structural", "multilevel"))
    first = run_plan(study, data, options, now=dt.datetime(2026, 1, 1, tzinfo=dt.UTC)).to_dict()
    second = run_plan(study, data, options, now=dt.datetime(2026, 2, 1, tzinfo=dt.UTC)).to_dict()
    assert first["reproducibility"].pop("created_at") != second["reproducibility"].pop("created_at")
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)
    model = first["steps"]["structural"]["models"][0]
    assert model["status"] == "ok" and model["bootstrap"]["draws"] == 3
    assert all(r["boot.std.lower"] is not None for r in model["defined"])
    # The provenance a reader needs to reproduce it.
    repro = first["reproducibility"]
    assert repro["seed"] == 99 and repro["plan_text"] == plan_text(study)
    assert len(repro["data_sha256"]) == 64 and repro["vakstem_version"]


def test_no_completed_responses_is_reported_and_every_step_says_why(
    study: Study, clean: list[ResponseRecord]
) -> None:
    records = [dataclasses.replace(r, status="active", completed_at=None) for r in clean[:20]]
    results = run_plan(study, data_from_records(study, records), PlanOptions(bootstrap=0))
    steps = results.to_dict()["steps"]
    assert steps["quality"]["status"] == "skipped"
    assert "no completed responses" in steps["quality"]["message"]
    for name in STEPS[1:]:
        assert steps[name]["status"] == "skipped" and steps[name]["message"]
    html = render_report(results.to_dict())
    assert "no completed responses" in html


def test_too_few_responses_for_a_model_is_a_message_and_the_rest_still_runs(
    study: Study, clean: list[ResponseRecord]
) -> None:
    data = data_from_records(study, clean[:30])
    results = run_plan(
        study, data, PlanOptions(bootstrap=0, steps=(*CHEAP, "measurement", "structural"))
    ).to_dict()["steps"]
    assert results["structural"]["status"] == "skipped"
    assert "too few responses for model 'sem_amo'" in results["structural"]["message"]
    # The 30-indicator CFA cannot run on 30 rows; the 19-indicator one still can.
    models = {m["id"]: m for m in results["measurement"]["models"]}
    assert models["cfa_professioneel"]["status"] == "failed"
    assert "too few responses" in models["cfa_professioneel"]["message"]
    assert results["scores"]["status"] == "ok" and results["reliability"]["status"] == "ok"
    assert results["open_answers"]["status"] == "ok"


def test_export_csv_missing_a_plan_column_is_refused_by_name(
    study: Study, clean: list[ResponseRecord], tmp_path: Path
) -> None:
    frame = data_from_records(study, clean[:40]).frame.drop(columns=["br_3", "wd_1"])
    path = tmp_path / "export.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(PlanError, match=r"lacks column\(s\) the analysis plan .* br_3, wd_1"):
        data_from_csv(study, str(path))


def test_csv_without_export_metadata_or_empty_is_refused(study: Study, tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(PlanError, match="is empty"):
        data_from_csv(study, str(empty))
    other = tmp_path / "other.csv"
    pd.DataFrame({"a": [1, 2]}).to_csv(other, index=False)
    with pytest.raises(PlanError, match="lacks the metadata column"):
        data_from_csv(study, str(other))
    with pytest.raises(PlanError, match="cannot read"):
        data_from_csv(study, str(tmp_path / "absent.csv"))


def test_export_csv_hash_is_the_file_hash_and_analyses_like_records(
    study: Study, clean: list[ResponseRecord], tmp_path: Path
) -> None:
    import hashlib

    from_records = data_from_records(study, clean[:60])
    path = tmp_path / "export.csv"
    from_records.frame.to_csv(path, index=False)
    from_file = data_from_csv(study, str(path))
    assert from_file.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    options = PlanOptions(steps=("quality", "scores"))
    a = run_plan(study, from_records, options).to_dict()["steps"]
    b = run_plan(study, from_file, options).to_dict()["steps"]
    assert a["scores"] == b["scores"] and a["quality"]["analysed"] == b["quality"]["analysed"]


def test_unknown_step_is_refused(study: Study, clean: list[ResponseRecord]) -> None:
    with pytest.raises(PlanError, match="unknown step"):
        run_plan(study, data_from_records(study, clean[:5]), PlanOptions(steps=("nope",)))
