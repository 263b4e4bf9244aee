"""`vakstem serve` as a real child process for the hardening tests: start it on a port, wait
until it answers, kill it hard, start it again on the same port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx2

from vakstem.instrument.loader import load_study_file
from vakstem.store import open_database
from vakstem.store.studies import load_study, set_status

VAKSTEM = Path(sys.executable).parent / "vakstem"
STUDIES = Path(__file__).resolve().parents[2] / "src" / "vakstem" / "studies"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def open_study(database_url: str, name: str = "klantmanagers") -> str:
    """Load a shipped study into the database and open it; its id."""
    path = STUDIES / name / "study.yaml"
    study = load_study_file(path)
    engine = open_database(database_url)
    try:
        load_study(engine, study, path.read_text(encoding="utf-8"))
        set_status(engine, study.id, "open")
    finally:
        engine.dispose()
    return study.id


class Server:
    """One `vakstem serve` process at a time on a fixed port, against `database_url`."""

    def __init__(
        self,
        database_url: str,
        data_dir: Path,
        env: dict[str, str] | None = None,
        *,
        workers: int = 1,
    ):
        self.port = free_port()
        self.workers = workers
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "VAKSTEM_DATABASE_URL": database_url,
            "VAKSTEM_DATA_DIR": str(data_dir),
            **(env or {}),
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data_dir / "server.log"

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [str(VAKSTEM), "serve", "--port", str(self.port), "--workers", str(self.workers)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        # Generous: on a busy shared machine importing the app alone can take many seconds.
        deadline = time.monotonic() + 180
        while True:
            try:
                httpx2.get(f"{self.base}/openapi.json", timeout=5)
                return
            except httpx2.TransportError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.kill()
                    raise AssertionError(
                        f"server did not start: {self.log.read_text(errors='replace')[-3000:]}"
                    ) from None
                time.sleep(0.2)

    def wait_for_workers(self, timeout: float = 300) -> None:
        """Until every worker has started its app (on a busy machine the supervisor may have
        killed a slow starter and started another: only complete starts count)."""
        deadline = time.monotonic() + timeout
        while self.log.read_text(errors="replace").count("Application startup complete") < (
            self.workers
        ):
            if time.monotonic() > deadline:
                raise AssertionError(f"not all {self.workers} workers started")
            time.sleep(0.5)

    def worker_pids(self) -> list[int]:
        """The processes the server started (its workers), from /proc."""
        assert self.proc is not None
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # gone meanwhile
            if int(fields[1]) == self.proc.pid:
                children.append(int(stat.parent.name))
        return children

    def kill(self) -> None:
        """SIGKILL: no shutdown handlers, no flush, like a power cut to the process."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None
