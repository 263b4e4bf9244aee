"""The feedback builders on small, hand-made groups: who belongs to which organisation, type
and size class; what the summary, mirror and reports show and hide; the open-answer themes."""

from __future__ import annotations

import random

import pandas as pd
from tests.feedback.factories import answers, dataset, klantmanagers, simple_dataset

from vakstem.feedback.benchmarks import band, build_benchmarks, render_benchmark
from vakstem.feedback.data import profile_for
from vakstem.feedback.mirror import build_aggregates, build_mirror, own_scores, render_mirror
from vakstem.feedback.summary import build_summary, render_summary
from vakstem.feedback.themes import THEMES, mentions


def test_organisation_type_and_size_come_from_the_municipality_or_the_answers() -> None:
    rng = random.Random(1)
    other = answers(rng, organisation=9999, org_type=2, grootte=5) | {"org_code": 5003}
    unknown = answers(rng, organisation=9999, org_type=None, grootte=9)
    data = dataset({"a": answers(rng, organisation=363), "b": other, "c": unknown}).frame
    assert data.loc["a", "org"] == "363" and data.loc["a", "size"] == 1.0  # Amsterdam, G4
    assert data.loc["b", "org"] == "org5003" and data.loc["b", "size"] == 5.0
    assert pd.isna(data.loc["c", "org"])
    assert data.loc["c", "size"] != data.loc["c", "size"]  # "don't know" is missing
    assert data.loc["c", "type"] != data.loc["c", "type"]


def test_profile_reads_the_roles_from_the_analysis_plan() -> None:
    profile = profile_for(klantmanagers())
    assert profile.cluster == "organisatie" and profile.other_code == 9999
    assert profile.other_cluster_variable == "org_code"
    assert profile.type_variable == "org_type" and profile.size_variable == "grootte"
    assert profile.open_items == ("open_nodig", "open_organisatie", "open_overig")


def test_summary_hides_a_small_type_and_its_partner_and_never_prints_open_texts() -> None:
    rng = random.Random(2)
    people = {
        f"a{i}": answers(rng, org_type=1, open_text="Meer tijd voor klanten") for i in range(20)
    }
    people |= {f"b{i}": answers(rng, org_type=2) for i in range(12)}
    people |= {f"c{i}": answers(rng, org_type=3) for i in range(3)}
    summary = build_summary(dataset(people), "nl", findings=lambda *_: None)
    [types, _sizes] = summary.breakdowns
    values = {row.key: row.count.value for row in types.rows}
    # Type 3 (3 people) is hidden, and so is the next smallest, type 4 (nobody) adding 0,
    # so type 2 goes as well: otherwise 35 - 20 - 12 would give 3.
    assert values == {"1": 20, "2": None, "3": None, "4": None, "none": None}
    html = render_summary(summary)
    assert "niet getoond" in html and "Meer tijd voor klanten" not in html
    [question, *_rest] = summary.open_questions
    themes = {r.theme.id: r.count.value for r in question.themes}
    assert question.answered.value == 20
    # Everyone who answered mentions time: "not mentioned" is 0 people, which reveals no one.
    assert themes["tijd"] == 20 and themes["werkdruk"] is None


def test_themes_match_word_starts_only() -> None:
    tijd = next(t for t in THEMES if t.id == "tijd")
    regels = next(t for t in THEMES if t.id == "regels")
    assert mentions(tijd, "Meer TIJDSDRUK") and not mentions(tijd, "Ik werk altijd hard")
    assert mentions(regels, "de wet is te streng") and not mentions(regels, "de wethouder")


def test_mirror_waits_for_mirror_min_then_shows_own_scores_next_to_everyone() -> None:
    rng = random.Random(4)
    own = answers(rng, level=5) | {f"br_{i}": 5 for i in range(1, 5)} | {"br_5": 1}
    early = build_mirror(build_aggregates(simple_dataset(29)), own)
    assert not early.available and early.groups == ()
    assert "minstens 30 mensen" in render_mirror(early, "nl", later_url="https://x/spiegel")
    mirror = build_mirror(build_aggregates(simple_dataset(30)), own)
    assert mirror.available
    row = next(r for g in mirror.groups for r in g.rows if r.scale.id == "br")
    assert row.own == 5.0 and row.quartiles is not None and row.quartiles.n == 30
    html = render_mirror(mirror, "en")
    assert "Discretion" in html and "How much room you have" in html
    assert "Workload" not in html  # the mirror is about professional action and HR practices


def test_own_scores_follow_the_scoring_rules() -> None:
    scores = own_scores(klantmanagers(), {"br_1": 4, "br_2": 4, "br_3": 4, "br_4": 4, "br_5": 2})
    assert scores["br"] == 4.0  # br_5 is reverse-keyed: 6 - 2
    assert scores["kv"] is None  # nothing answered


def test_benchmark_bands_start_at_k() -> None:
    assert [band(n, 10) for n in (10, 19, 20, 49, 250, 999)] == [
        "10–19", "10–19", "20–29", "30–49", "200–499", "500+",
    ]  # fmt: skip
    assert band(25, 25) == "25–29"


def test_benchmark_compares_with_all_others_and_says_too_few_where_needed() -> None:
    rng = random.Random(6)
    people = {f"a{i}": answers(rng, organisation=363, level=4.5) for i in range(12)}
    people |= {f"b{i}": answers(rng, organisation=14, level=1.5) for i in range(15)}
    for i in range(12):
        # Performance agreements answered by nobody in Amsterdam: no pa score there.
        for item in ("pa_2", "pa_3", "pa_4", "pa_5"):
            people[f"a{i}"].pop(item, None)
    data = dataset(people)
    reports = {r.code: r for r in build_benchmarks(data)}
    assert set(reports) == {"14", "363"}
    amsterdam = reports["363"]
    br = next(r for g in amsterdam.groups for r in g.rows if r.scale and r.scale.id == "br")
    assert br.org is not None and br.others is not None and br.org.median > br.others.median
    pa = next(r for g in amsterdam.groups for r in g.rows if r.scale and r.scale.id == "pa")
    assert pa.org is None and pa.others is not None
    html = render_benchmark(data, amsterdam)
    assert "te weinig antwoorden" in html and "Groningen" not in html
