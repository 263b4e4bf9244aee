"""`vakstem study validate` and `vakstem study schema`: exit codes, output, the JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema_rs
import yaml
from typer.testing import CliRunner

from vakstem.commands.study import study_app
from vakstem.instrument.json_schema import study_json_schema

FIXTURES = Path(__file__).parent / "fixtures"
EXAMPLE = Path(__file__).parents[2] / "src" / "vakstem" / "studies" / "voorbeeld" / "study.yaml"

runner = CliRunner()


def test_validate_example_prints_ok_and_exits_0() -> None:
    result = runner.invoke(study_app, ["validate", str(EXAMPLE)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "OK: 5 pages, 16 items, 20 variables"


def test_validate_bad_file_prints_each_problem_with_line_and_exits_1() -> None:
    path = FIXTURES / "wrong_type.yaml"
    result = runner.invoke(study_app, ["validate", str(path)])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert lines[0].startswith(f"{path}:9:")
    assert "page 'p1', item 'a': min: expected a number" in lines[0]
    assert lines[1].startswith(f"{path}:10:")
    assert lines[-1] == f"2 problems in {path}"
    assert "Traceback" not in result.output


def test_validate_unreadable_inputs_exit_1_without_traceback(tmp_path: Path) -> None:
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"id: \xff\xfe\n")
    cases = {
        tmp_path / "missing.yaml": "file not found",
        tmp_path: "this is a directory, not a study file",
        binary: "not UTF-8 text",
    }
    for path, message in cases.items():
        result = runner.invoke(study_app, ["validate", str(path)])
        assert result.exit_code == 1, path
        assert message in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)


def test_validate_yaml_syntax_error_exits_1() -> None:
    result = runner.invoke(study_app, ["validate", str(FIXTURES / "yaml_syntax_error.yaml")])
    assert result.exit_code == 1
    assert "yaml_syntax_error.yaml:8:" in result.output
    assert "YAML syntax error" in result.output


def test_schema_prints_json_with_descriptions() -> None:
    result = runner.invoke(study_app, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.output)
    assert schema["title"] == "Vakstem study file"
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert "ItemType" in schema["$defs"]


def test_schema_describes_every_field() -> None:
    schema = study_json_schema()
    undescribed = [
        f"{name}.{field}"
        for name, definition in [("Study", schema), *schema["$defs"].items()]
        for field, prop in definition.get("properties", {}).items()
        if not prop.get("description")
    ]
    assert undescribed == []


def test_schema_out_writes_a_file(tmp_path: Path) -> None:
    out = tmp_path / "study.schema.json"
    result = runner.invoke(study_app, ["schema", "--out", str(out)])
    assert result.exit_code == 0
    assert json.loads(out.read_text(encoding="utf-8"))["title"] == "Vakstem study file"
    result = runner.invoke(study_app, ["schema", "--out", str(tmp_path / "no" / "x.json")])
    assert result.exit_code == 1
    assert "cannot write" in result.output


def test_json_schema_accepts_the_example_and_rejects_a_bad_item() -> None:
    validator = jsonschema_rs.validator_for(study_json_schema())
    document = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    assert validator.is_valid(document)
    document["pages"][0]["items"][0]["type"] = "likert"
    assert not validator.is_valid(document)


def test_vakstem_study_validate_is_registered_on_the_main_command() -> None:
    from vakstem.cli import app

    result = runner.invoke(app, ["study", "validate", str(FIXTURES / "duplicate_ids.yaml")])
    assert result.exit_code == 1
    assert "duplicate_ids.yaml:11:" in result.output
