"""A throwaway PostgreSQL server on loopback, for the store's tests.

It runs from Debian's binaries in a temporary folder: initdb, then pg_ctl with a
loopback port and a private socket folder. PostgreSQL refuses to run as root, so
under root it runs as the `postgres` user that Debian's package creates.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest


def _bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    def __init__(self, bindir: Path, root: Path, port: int, run_as: str | None) -> None:
        self.bindir, self.root, self.port, self.run_as = bindir, root, port, run_as

    def _run(self, *args: str) -> None:
        cmd = [*args]
        if self.run_as:
            cmd = ["runuser", "-u", self.run_as, "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        data = self.root / "data"
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            "lbguard",
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
        )
        opts = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off"
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            opts,
            "-l",
            str(self.root / "log"),
            "-w",
            "-t",
            "60",
            "start",
        )

    def stop(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            self._run(
                str(self.bindir / "pg_ctl"),
                "-D",
                str(self.root / "data"),
                "-m",
                "immediate",
                "-w",
                "stop",
            )

    def new_database(self) -> str:
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user=lbguard dbname=postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://lbguard@127.0.0.1:{self.port}/{name}"


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    bindir = _bindir()
    if bindir is None:
        if os.environ.get("LBGUARD_REQUIRE_NATIVE") == "1":
            pytest.fail("PostgreSQL is required (LBGUARD_REQUIRE_NATIVE=1) but is not installed")
        pytest.skip("PostgreSQL server binaries are not installed")
    run_as = None
    root = Path(tempfile.mkdtemp(prefix="lbguard-pg-"))
    if os.geteuid() == 0:
        run_as = "postgres"
        user = pwd.getpwnam(run_as)
        os.chown(root, user.pw_uid, user.pw_gid)
        root.chmod(0o700)
    server = PostgresServer(bindir, root, _free_port(), run_as)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
