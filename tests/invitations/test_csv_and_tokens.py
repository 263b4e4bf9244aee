"""Bad invitation CSVs are reported row by row with nothing imported; invitation links that are
used, declined, expired, purged or made up are told apart only where the holder may know."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from vakstem.service import invitations as inv
from vakstem.service.invitations import CsvRejected, LinkState
from vakstem.service.responses import ResponseService
from vakstem.settings import Settings
from vakstem.store.invitations import invitations


def _count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(invitations)).scalar_one())


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            b"email\na@example.org\ngeen-adres\nb@example\n",
            [
                "row 3: not an email address: 'geen-adres'",
                "row 4: not an email address: 'b@example'",
            ],
        ),
        (
            b"email\na@example.org\nb@example.org\nA@Example.org \n",
            ["row 4: a@example.org appears twice in the file (also row 2)"],
        ),
        (
            "email,organisatie\nc@example.org,Gemeente Ğ\n".encode("latin-1", "replace")
            + "d@example.org,Café\n".encode("latin-1"),
            ["the file is not UTF-8 (line(s) 3)"],
        ),
        (
            b"adres,organisatie\na@example.org,X\n",
            ["row 1: missing column 'email' (found: adres, organisatie)"],
        ),
        (b"email,naam\na@example.org,Anna\n", ["row 1: unknown column(s) 'naam'"]),
        (b"email,language\na@example.org,de\n", ["row 2: language 'de': the study has nl, en"]),
        (b"email\n\n", ["the file has a header but no addresses"]),
        (b"", ["the file is empty"]),
        (b"email\na@example.org,extra\n", ["row 2: 2 cells, the header has 1"]),
    ],
    ids=[
        "bad-address",
        "duplicate",
        "encoding",
        "missing-column",
        "unknown-column",
        "language",
        "no-rows",
        "empty",
        "extra-cell",
    ],
)
def test_bad_csv_is_reported_by_row_and_nothing_is_imported(
    engine: Engine, settings: Settings, data: bytes, expected: list[str]
) -> None:
    with pytest.raises(CsvRejected) as rejected:
        inv.import_csv(engine, settings, "bereik", data)
    lines = [str(r) for r in rejected.value.rows]
    for want, got in zip(expected, lines, strict=True):
        assert got.startswith(want), (want, got)
    assert _count(engine) == 0


def test_already_invited_addresses_reject_the_whole_file(
    engine: Engine, settings: Settings
) -> None:
    inv.import_csv(engine, settings, "bereik", b"email\na@example.org\n")
    with pytest.raises(CsvRejected) as rejected:
        inv.import_csv(engine, settings, "bereik", b"email\nnieuw@example.org\nA@example.org\n")
    assert [str(r) for r in rejected.value.rows] == [
        "row 3: a@example.org was already invited to this study"
    ]
    assert _count(engine) == 1


def test_utf8_with_bom_and_semicolons_as_excel_saves_them_is_accepted(
    engine: Engine, settings: Settings
) -> None:
    data = "\ufeffEmail;Organisatie;Language\r\nzoë@example.org;Gemeente Çatal;en\r\n".encode()
    assert inv.import_csv(engine, settings, "bereik", data) == 1
    with engine.connect() as conn:
        row = conn.execute(sa.select(invitations)).one()
    assert (row.email, row.organisatie, row.language) == ("zoë@example.org", "Gemeente Çatal", "en")


def test_empty_trailing_columns_of_a_spreadsheet_are_ignored(
    engine: Engine, settings: Settings
) -> None:
    assert inv.import_csv(engine, settings, "bereik", b"email,,\na@example.org,,\n") == 1


def test_without_a_secret_key_links_cannot_be_made(engine: Engine, settings: Settings) -> None:
    with pytest.raises(inv.InvitationError, match="VAKSTEM_SECRET_KEY"):
        inv.import_csv(
            engine,
            settings.model_copy(update={"secret_key": None}),
            "bereik",
            b"email\na@example.org\n",
        )
    assert _count(engine) == 0


def _tokens(engine: Engine, settings: Settings, n: int) -> list[str]:
    inv.import_csv(
        engine,
        settings,
        "bereik",
        ("email\n" + "".join(f"p{i}@example.org\n" for i in range(n))).encode(),
    )
    with engine.connect() as conn:
        ids = list(conn.execute(sa.select(invitations.c.id).order_by(invitations.c.id)).scalars())
    return [inv.token_for(settings, "bereik", i) for i in ids]


def test_used_declined_expired_and_made_up_tokens(engine: Engine, settings: Settings) -> None:
    service = ResponseService(engine)
    used, declined, fresh = _tokens(engine, settings, 3)
    assert inv.use(engine, service.start, "bereik", used).state is LinkState.STARTED
    again = inv.use(engine, service.start, "bereik", used)
    assert again.state is LinkState.USED and again.response is None
    assert inv.decline(engine, "bereik", declined)
    assert inv.use(engine, service.start, "bereik", declined).state is LinkState.DECLINED
    later = datetime.now(UTC) + timedelta(days=settings.invitation_valid_days + 1)
    assert inv.use(engine, service.start, "bereik", fresh, now=later).state is LinkState.INVALID
    assert inv.use(engine, service.start, "bereik", "verzonnen-token").state is LinkState.INVALID
    assert inv.use(engine, service.start, "bereik", "x" * 500).state is LinkState.INVALID
    assert not inv.decline(engine, "bereik", "verzonnen-token")
    # A real token under another study's address is as unknown as a made-up one.
    assert inv.use(engine, service.start, "ander", fresh).state is LinkState.INVALID


def test_a_token_starts_exactly_one_response_when_clicked_twice_at_once(
    engine: Engine, settings: Settings
) -> None:
    import threading

    service = ResponseService(engine)
    [token] = _tokens(engine, settings, 1)
    outcomes: list[LinkState] = []
    barrier = threading.Barrier(4)

    def click() -> None:
        barrier.wait()
        outcomes.append(inv.use(engine, service.start, "bereik", token).state)

    threads = [threading.Thread(target=click) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == sorted([LinkState.STARTED] + [LinkState.USED] * 3)


def test_closed_study_leaves_the_token_unused(engine: Engine, settings: Settings) -> None:
    from vakstem.service.types import StudyClosed
    from vakstem.store.studies import set_status

    service = ResponseService(engine)
    [token] = _tokens(engine, settings, 1)
    set_status(engine, "bereik", "closed")
    with pytest.raises(StudyClosed):
        inv.use(engine, service.start, "bereik", token)
    set_status(engine, "bereik", "open")
    assert inv.use(engine, service.start, "bereik", token).state is LinkState.STARTED


def test_purge_deletes_contacts_and_disables_links(engine: Engine, settings: Settings) -> None:
    service = ResponseService(engine)
    [token] = _tokens(engine, settings, 1)
    assert inv.purge_contacts(engine, "bereik") == 1
    with engine.connect() as conn:
        row = conn.execute(sa.select(invitations)).one()
    assert (row.email, row.organisatie, row.purged) == (None, None, True)
    assert inv.use(engine, service.start, "bereik", token).state is LinkState.INVALID
    with pytest.raises(inv.StudyNotFound):
        inv.purge_contacts(engine, "bestaat-niet")


def test_contacts_are_purged_automatically_after_the_retention_time(
    engine: Engine, settings: Settings
) -> None:
    from vakstem.store.studies import set_status

    _tokens(engine, settings, 2)
    closed_at = datetime.now(UTC)
    set_status(engine, "bereik", "closed", now=closed_at)
    assert inv.purge_expired(engine, 30, now=closed_at + timedelta(days=29)) == []
    assert inv.purge_expired(engine, 30, now=closed_at + timedelta(days=31)) == ["bereik"]
    assert inv.summary(engine, "bereik").purged == 2
