"""`vakstem fit`: summary on stdout, lavaan-named JSON, clear messages and exit codes on bad
input (never a traceback)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from vakstem.commands.fit import fit

FIXTURES = Path(__file__).parent / "fixtures"
HS_MODEL = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
REFERENCE = json.loads((FIXTURES / "reference.json").read_text())

app = typer.Typer()
app.command()(fit)
runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def test_fit_prints_summary_and_writes_lavaan_named_json(tmp_path: Path) -> None:
    out = tmp_path / "fit.json"
    code, stdout, _ = run(
        HS_MODEL, "--data", str(FIXTURES / "hs1939.csv"), "--estimator", "MLR", "--json", str(out)
    )
    assert code == 0
    assert "Model Test User Model:" in stdout and "Latent Variables:" in stdout
    payload = json.loads(out.read_text())
    reference = REFERENCE["models"]["hs_mlr"]["fit"]
    assert payload["lavaan_compat"] == "0.6.14"
    for name in ["chisq", "chisq.scaled", "cfi.robust", "rmsea.robust", "srmr", "aic"]:
        assert payload["fit"][name] == pytest.approx(reference[name], rel=1e-4)
    assert {row["op"] for row in payload["parameters"]} == {"=~", "~~"}


def test_model_can_be_a_file_and_groups_take_equality_constraints(tmp_path: Path) -> None:
    model = tmp_path / "hs.lav"
    model.write_text(HS_MODEL)
    out = tmp_path / "scalar.json"
    code, stdout, _ = run(
        str(model),
        "--data",
        str(FIXTURES / "hs1939.csv"),
        "--group",
        "school",
        "--group-equal",
        "loadings,intercepts",
        "--json",
        str(out),
    )
    assert code == 0
    assert "Group 1 [Pasteur]:" in stdout
    fit_measures = json.loads(out.read_text())["fit"]
    assert fit_measures["chisq"] == pytest.approx(
        REFERENCE["models"]["hs_scalar"]["fit"]["chisq"], rel=1e-5
    )


def test_fiml_and_bootstrap_options_reach_the_engine(tmp_path: Path) -> None:
    code, stdout, _ = run(
        HS_MODEL, "--data", str(FIXTURES / "hs1939_missing.csv"), "--missing", "ml"
    )
    assert code == 0 and "full information ML" in stdout
    out = tmp_path / "med.json"
    code, _, _ = run(
        "Y ~ c*X\nM ~ a*X\nY ~ b*M\nab := a*b",
        "--data",
        str(FIXTURES / "mediation.csv"),
        "--bootstrap",
        "40",
        "--seed",
        "3",
        "--json",
        str(out),
    )
    payload = json.loads(out.read_text())
    assert code == 0 and payload["bootstrap"]["draws"] == 40
    defined = next(row for row in payload["parameters"] if row["op"] == ":=")
    assert defined["boot.ci.lower"] < defined["est"] < defined["boot.ci.upper"]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["f =~ x1 + x2\nx1 ~~~ x2"], 1, "line 2: unexpected '~~~'"),
        (["f =~ x1 + x2 + x99"], 1, "'x99' which is not a column of the data"),
        (["hs.lav"], 2, "neither an existing model file nor lavaan syntax"),
        (["f =~ x1 + x2 + x3", "--estimator", "WLS"], 2, "--estimator must be ML or MLR"),
        (["f =~ x1 + x2 + x3", "--missing", "pairwise"], 2, "--missing must be listwise or ml"),
        (["f =~ x1 + x2 + x3", "--group", "klas"], 1, "group variable 'klas' is not a column"),
    ],
)
def test_bad_input_gives_a_message_and_exit_code(args: list[str], code: int, message: str) -> None:
    exit_code, _, stderr = run(*args, "--data", str(FIXTURES / "hs1939.csv"))
    assert exit_code == code
    assert message in " ".join(stderr.split())
    assert "Traceback" not in stderr


def test_unreadable_data_files_are_reported(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    header_only = tmp_path / "header.csv"
    header_only.write_text("x1,x2,x3\n")
    text = tmp_path / "words.csv"
    text.write_text("x1,x2,x3\n1,2,drie\n2,3,4\n3,1,2\n4,4,1\n")
    cases = [
        (tmp_path / "absent.csv", 2, "does not exist"),
        (empty, 1, "is empty"),
        (header_only, 1, "the data is empty"),
        (text, 1, "column 'x3' is not numeric: row 1 holds 'drie'"),
    ]
    for path, code, message in cases:
        exit_code, _, stderr = run("f =~ x1 + x2 + x3", "--data", str(path))
        assert exit_code == code, (path, stderr)
        assert message in " ".join(stderr.split())


def test_group_partial_frees_named_parameters(tmp_path: Path) -> None:
    out = tmp_path / "partial.json"
    code, _, _ = run(
        HS_MODEL,
        "--data",
        str(FIXTURES / "hs1939.csv"),
        "--group",
        "school",
        "--group-equal",
        "loadings,intercepts",
        "--group-partial",
        "visual=~x2,x3~1,x7 ~ 1",
        "--json",
        str(out),
    )
    assert code == 0
    expected = REFERENCE["models"]["hs_scalar_partial"]["fit"]
    fit_measures = json.loads(out.read_text())["fit"]
    assert fit_measures["df"] == expected["df"]
    assert fit_measures["chisq"] == pytest.approx(expected["chisq"], rel=1e-5)


def test_a_malformed_group_partial_entry_is_explained() -> None:
    code, _, stderr = run(
        HS_MODEL,
        "--data",
        str(FIXTURES / "hs1939.csv"),
        "--group",
        "school",
        "--group-equal",
        "loadings",
        "--group-partial",
        "x2",
    )
    assert code == 1
    assert "group_partial entry 'x2' is not a parameter" in " ".join(stderr.split())


def test_cluster_option_gives_lavaans_cluster_robust_fit(tmp_path: Path) -> None:
    spec = REFERENCE["models"]["nested_cluster_mlr"]
    out = tmp_path / "nested.json"
    args = [spec["model"], "--data", str(FIXTURES / "nested.csv"), "--estimator", "MLR"]
    code, stdout, _ = run(*args, "--cluster", "org", "--json", str(out))
    assert code == 0
    assert re.search(r"Number of clusters \[org\] +43\n", stdout)
    payload = json.loads(out.read_text())
    assert payload["options"]["cluster"] == "org" and payload["nclusters"] == [43]
    assert payload["fit"]["chisq.scaled"] == pytest.approx(spec["fit"]["chisq.scaled"], rel=1e-6)
    code, _, stderr = run(*args[:-2], "--cluster", "org")
    assert code == 2 and "--cluster gives cluster-robust" in stderr
    assert "add --estimator MLR" in stderr
