"""The `privacy` block of a study file: read with every text per language, problems located by
line like the rest of the loader, written back by the dumper and carried through XLSForm."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import vakstem
from vakstem.instrument.dump import dump_study_yaml
from vakstem.instrument.json_schema import study_json_schema
from vakstem.instrument.loader import check_text, load_study_file, load_study_text
from vakstem.instrument.xlsform import read_xlsform, write_xlsform

STUDIES = Path(vakstem.__file__).parent / "studies"

HEAD = """\
id: demo
languages: [nl, en]
title: Demo
pages:
  - id: p1
    items:
      - {id: q1, type: integer, text: Jaren?}
"""

PRIVACY = """\
privacy:
  controllers:
    - name: Universiteit Utrecht
      contact: "[uu.nl](https://www.uu.nl)"
  collected: {nl: Je antwoorden., en: Your answers.}
  purpose: {nl: Onderzoek., en: Research.}
  legal_basis: {nl: Algemeen belang., en: Public interest.}
  retention: {nl: Tien jaar., en: Ten years.}
  contact:
    email: onderzoek@example.org
    dpo: {nl: De FG van de UU., en: The DPO of UU.}
"""


def problems_of(text: str) -> list[str]:
    _study, problems = check_text(text, "s.yaml")
    return [str(p) for p in problems]


def test_a_complete_block_loads() -> None:
    study = load_study_text(HEAD + PRIVACY)
    assert study.privacy is not None
    assert study.privacy.controllers[0].name == "Universiteit Utrecht"
    assert study.privacy.contact.email == "onderzoek@example.org"
    assert study.privacy.rights is None


def test_without_block_a_study_still_loads_as_a_draft() -> None:
    assert load_study_text(HEAD).privacy is None


def test_misspelt_field_is_located_with_a_suggestion() -> None:
    text = HEAD + PRIVACY.replace("  retention:", "  retension:")
    problems = problems_of(text)
    assert any(
        p.startswith("s.yaml:15") and "unknown field 'retension' (did you mean 'retention'?)" in p
        for p in problems
    ), problems
    assert any("missing required field 'retention'" in p for p in problems), problems


def test_misspelt_contact_field_is_located() -> None:
    problems = problems_of(HEAD + PRIVACY.replace("    dpo:", "    dop:"))
    assert problems == ["s.yaml:18: privacy.contact: unknown field 'dop' (did you mean 'dpo'?)"], (
        problems
    )


def test_missing_translation_is_named_and_located() -> None:
    problems = problems_of(HEAD + PRIVACY.replace("{nl: Tien jaar., en: Ten years.}", "{nl: X}"))
    assert problems == [
        "s.yaml:15: privacy.retention is missing in en (the study's languages are nl, en)"
    ], problems


def test_bad_email_is_located() -> None:
    problems = problems_of(HEAD + PRIVACY.replace("onderzoek@example.org", "het onderzoeksteam"))
    assert len(problems) == 1 and problems[0].startswith("s.yaml:17:"), problems
    assert "'het onderzoeksteam' is not an e-mail address" in problems[0]


def test_empty_controllers_and_empty_text_are_refused() -> None:
    text = HEAD + PRIVACY.replace(
        "  controllers:\n    - name: Universiteit Utrecht\n"
        '      contact: "[uu.nl](https://www.uu.nl)"\n',
        "  controllers: []\n",
    ).replace("{nl: Onderzoek., en: Research.}", '""')
    problems = problems_of(text)
    assert any(p.startswith("s.yaml:9:") and "controllers is empty" in p for p in problems), (
        problems
    )
    assert any("privacy.purpose is empty" in p for p in problems), problems


def test_wrong_type_is_located() -> None:
    problems = problems_of(
        HEAD
        + PRIVACY.replace(
            "  collected: {nl: Je antwoorden., en: Your answers.}", "  collected: [a, b]"
        )
    )
    assert len(problems) == 1 and problems[0].startswith("s.yaml:12:"), problems
    assert "expected text" in problems[0]


def test_dumped_yaml_reads_back_with_the_block() -> None:
    study = load_study_text(HEAD + PRIVACY)
    assert load_study_text(dump_study_yaml(study)) == study


@pytest.mark.parametrize("name", ["voorbeeld", "klantmanagers"])
def test_xlsform_round_trip_carries_the_block(name: str, tmp_path: Path) -> None:
    study = load_study_file(STUDIES / name / "study.yaml")
    assert study.privacy is not None
    form = tmp_path / "form.xlsx"
    write_xlsform(study, form)
    result = read_xlsform(form)
    assert result.problems == [] and result.study is not None
    assert result.study.privacy == study.privacy


def test_json_schema_describes_the_block() -> None:
    schema = study_json_schema()
    assert "privacy" in schema["properties"]["privacy"]["description"]
    privacy = schema["$defs"]["Privacy"]
    assert set(privacy["required"]) == {
        "controllers",
        "collected",
        "purpose",
        "legal_basis",
        "retention",
        "contact",
    }
    assert privacy["properties"]["rights"]["description"].startswith("The respondent's rights")


def test_the_documented_block_loads_in_a_study() -> None:
    doc = Path(__file__).parents[2] / "docs" / "questionnaire-format.md"
    snippet = next(
        s
        for s in re.findall(r"```yaml\n(.*?)```", doc.read_text(encoding="utf-8"), re.S)
        if s.startswith("privacy:")
    )
    study = load_study_text(HEAD + snippet)
    assert study.privacy is not None and len(study.privacy.controllers) == 2
