"""A server process moves what it made at start-up out of the garbage collector's sight
(`gc.freeze`), so full collections under load walk only the objects of requests, not every
module, template and model (pauses of ~100 ms before, 6 ms after, on the benchmark). Only the
server's own paths freeze; `create_app`, which tests call many times in one process, does not.

Checked in a fresh interpreter: a frozen object stays frozen for the life of its process."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent(
    """
    import gc, json, os, sys
    from vakstem.settings import Settings
    from vakstem.web import app as web_app

    before = gc.get_freeze_count()
    web_app.create_app(Settings(database_url=sys.argv[1], secret_key="k" * 32))
    after_create = gc.get_freeze_count()
    os.environ["VAKSTEM_DATABASE_URL"] = sys.argv[1]
    os.environ["VAKSTEM_DATA_DIR"] = sys.argv[2]
    os.environ["VAKSTEM_SECRET_KEY"] = "k" * 32
    served = web_app.create_app_from_env()
    after_factory = gc.get_freeze_count()
    # The app still serves after the freeze.
    from fastapi.testclient import TestClient
    with TestClient(served) as client:
        status = client.get("/s/onbekend").status_code
    print(json.dumps([before, after_create, after_factory, status]))
    """
)


def test_the_server_factory_freezes_its_start_up_objects_and_create_app_does_not(
    database_url: str, tmp_path: Path
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, database_url, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    before, after_create, after_factory, status = json.loads(done.stdout.strip().splitlines()[-1])
    assert before == 0 and after_create == 0
    # Every module, class and function imported by then: tens of thousands of objects.
    assert after_factory > 50_000
    assert status == 404
