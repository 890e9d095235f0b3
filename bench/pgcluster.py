"""A private PostgreSQL primary and its streaming replica, built on this machine for a test.

The shared server's pg_hba allows no replication connection, so the test makes its own primary
with initdb, then `pg_basebackup -R -X stream` from it. initdb and pg_ctl refuse root: as root,
they run as the `postgres` OS user on directories it owns.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

BIN = Path("/usr/lib/postgresql/15/bin")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(*args: str) -> None:
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run([*prefix, *args], check=True, capture_output=True, timeout=120)


@dataclass
class Server:
    datadir: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/insitechart"

    def start(self) -> None:
        run(
            str(BIN / "pg_ctl"), "-D", str(self.datadir), "-l", str(self.datadir / "log"),
            "-w", "-t", "60", "-o", f"-p {self.port} -k {self.datadir}", "start",
        )  # fmt: skip

    def stop(self) -> None:
        run(str(BIN / "pg_ctl"), "-D", str(self.datadir), "-m", "fast", "-w", "stop")


@dataclass
class Pair:
    root: Path
    primary: Server
    replica: Server

    @classmethod
    def build(cls) -> Pair:
        if not (BIN / "initdb").exists():
            raise RuntimeError(f"PostgreSQL 15 binaries not found in {BIN}")
        root = Path(tempfile.mkdtemp(prefix="insitechart-replica-"))
        root.chmod(0o755)
        if os.geteuid() == 0:
            shutil.chown(root, "postgres", "postgres")
        primary = Server(root / "primary", free_port())
        run(str(BIN / "initdb"), "-D", str(primary.datadir), "-U", "postgres",
            "--auth=trust", "-E", "UTF8", "--no-sync")  # fmt: skip
        with (primary.datadir / "postgresql.conf").open("a") as conf:
            conf.write(
                "listen_addresses = '127.0.0.1'\nfsync = off\nwal_level = replica\n"
                "max_wal_senders = 4\nshared_buffers = 32MB\n"
            )
        primary.start()
        run(str(BIN / "createdb"), "-h", "127.0.0.1", "-p", str(primary.port), "-U",
            "postgres", "insitechart")  # fmt: skip
        return cls(root, primary, Server(root / "replica", free_port()))

    def clone(self) -> None:
        """Take the replica from the primary as it is now, and start it streaming."""
        run(str(BIN / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(self.primary.port),
            "-U", "postgres", "-D", str(self.replica.datadir), "-R", "-X", "stream",
            "-c", "fast")  # fmt: skip
        self.replica.start()

    def destroy(self) -> None:
        for server in (self.replica, self.primary):
            if (server.datadir / "postmaster.pid").exists():
                try:
                    server.stop()
                except subprocess.CalledProcessError:
                    pass
        shutil.rmtree(self.root, ignore_errors=True)
