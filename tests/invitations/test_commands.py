"""The reach commands end to end: `vakstem invite`, `remind`, `bounce`, `purge-contacts`,
`links` and `quota` against a real database and a real SMTP server."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from tests.invitations.smtp import Handler
from typer.testing import CliRunner

from vakstem.cli import app
from vakstem.service import invitations as inv
from vakstem.settings import Settings

Run = Callable[..., tuple[int, str]]


@pytest.fixture
def run(database_url: str, engine: Engine, settings: Settings) -> Run:
    env = {
        "VAKSTEM_DATABASE_URL": database_url,
        "VAKSTEM_SECRET_KEY": settings.secret_key or "",
        "VAKSTEM_SMTP_HOST": settings.smtp_host or "",
        "VAKSTEM_SMTP_PORT": str(settings.smtp_port),
        "VAKSTEM_SMTP_FROM": settings.smtp_from or "",
        "VAKSTEM_SMTP_RATE": "1000",
        "VAKSTEM_PUBLIC_URL": settings.public_url,
        "VAKSTEM_DATA_DIR": str(settings.data_dir),
        "COLUMNS": "250",
    }

    def invoke(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(app, list(args), env=env)
        return result.exit_code, result.output

    return invoke


def test_invite_then_remind_from_the_command_line(
    run: Run, tmp_path: Path, handler: Handler, engine: Engine
) -> None:
    csv_file = tmp_path / "adressen.csv"
    csv_file.write_text("email,language\na@example.org,nl\nb@example.org,en\n", encoding="utf-8")
    code, out = run("invite", "bereik", "--csv", str(csv_file))
    assert code == 0, out
    assert "imported 2 invitee(s)" in out and "invitations: sent 2 of 2" in out
    code, out = run("remind", "bereik")
    assert code == 0 and "reminder 1: sent 2 of 2" in out
    code, out = run("remind", "bereik")
    assert code == 0 and "no reminder 1 due" in out
    assert len(handler.received) == 4
    code, out = run("bounce", "bereik", "b@example.org", "--reason", "550 gone")
    assert code == 0 and inv.summary(engine, "bereik").bounced == 1
    code, out = run("purge-contacts", "bereik")
    assert code == 0 and "deleted the contact data of 2 invitee(s)" in out


def test_bad_csv_lists_the_rows_and_imports_nothing(
    run: Run, tmp_path: Path, engine: Engine
) -> None:
    csv_file = tmp_path / "adressen.csv"
    csv_file.write_text("email\nok@example.org\nfout\nok@example.org\n", encoding="utf-8")
    code, out = run("invite", "bereik", "--csv", str(csv_file))
    assert code == 1
    assert "row 3: not an email address: 'fout'" in out
    assert "row 4: ok@example.org appears twice in the file (also row 2)" in out
    assert "nothing was imported" in out
    assert inv.summary(engine, "bereik").invited == 0
    code, out = run("invite", "bereik", "--csv", str(tmp_path / "bestaat-niet.csv"))
    assert code == 1 and "cannot read" in out


def test_server_gone_mid_batch_exits_with_a_message_and_a_rerun_finishes(
    run: Run, tmp_path: Path, handler: Handler
) -> None:
    csv_file = tmp_path / "adressen.csv"
    csv_file.write_text(
        "email\n" + "".join(f"p{i}@example.org\n" for i in range(5)), encoding="utf-8"
    )
    handler.accept_at_most = 3
    code, out = run("invite", "bereik", "--csv", str(csv_file))
    assert code == 1 and "Sent 3 of 5" in out
    handler.accept_at_most = None
    code, out = run("invite", "bereik")
    assert code == 0 and "invitations: sent 2 of 2" in out
    assert len({r.to for r in handler.received}) == len(handler.received) == 5


def test_links_prints_each_source_and_writes_qr_codes(run: Run, tmp_path: Path) -> None:
    out_dir = tmp_path / "qr"
    code, out = run("links", "bereik", "--add", "flyer", "--out", str(out_dir))
    assert code == 0, out
    assert "https://enquete.example.org/s/bereik/l/nieuwsbrief-nov" in out
    assert "https://enquete.example.org/s/bereik/l/flyer" in out
    svg = (out_dir / "bereik-flyer.svg").read_text(encoding="utf-8")
    assert svg.startswith("<svg") and "path" in svg
    assert (out_dir / "bereik-gemeente-x.png").read_bytes().startswith(b"\x89PNG")
    code, out = run("links", "bereik", "--add", "Fout Label")
    assert code == 1 and "source tag 'Fout Label'" in out
    code, out = run("links", "bestaat-niet")
    assert code == 1 and "no study 'bestaat-niet'" in out


def test_quota_command_sets_lists_and_removes(run: Run) -> None:
    code, out = run("quota", "bereik", "gemeenten", "10", "--source", "gemeente-x")
    assert code == 0 and "gemeenten" in out and "gemeente-x" in out and "open" in out
    code, out = run("quota", "bereik", "gemeenten", "--remove")
    assert code == 0 and "gemeenten" not in out
    code, out = run("quota", "bereik", "fout", "5", "--source", "onbekend")
    assert code == 1 and "unknown source tag(s) onbekend" in out
