"""A private redis-server and PostgreSQL to kill, freeze and restart (tests, bench/faults.py)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from tests.cache.proxy import closed_port

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


class RedisServer:
    """A private redis-server on a free port, to kill, freeze and restart."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = closed_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        self.process = subprocess.Popen(
            [
                *(REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", str(self.workdir)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError("redis-server did not start") from None
                await asyncio.sleep(0.05)
                continue
            writer.close()
            return

    def kill(self) -> None:
        """SIGKILL: connections drop, new ones are refused."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
            self.process = None

    def freeze(self) -> None:
        """SIGSTOP: the port still accepts connections, nothing answers."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)
            self.kill()


PG_BIN = Path("/usr/lib/postgresql/15/bin")


class PostgresServer:
    """A private PostgreSQL cluster on a free port (initdb + pg_ctl), to restart at will.

    initdb refuses to run as root: as root, the cluster belongs to the `postgres` OS user.
    """

    def __init__(self) -> None:
        self.port = closed_port()
        self.dir = Path(tempfile.mkdtemp(prefix="insitechart-pg-"))
        self.data = self.dir / "data"
        self.as_root = os.geteuid() == 0

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, timeout: float = 60) -> None:
        command = [str(PG_BIN / args[0]), *args[1:]]
        if self.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=timeout)

    def init(self) -> None:
        if self.as_root:
            shutil.chown(self.dir, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync")

    def _options(self) -> str:
        return (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )

    def _control(self) -> list[str]:
        # The server's output goes to a file: a pipe would keep pg_ctl's caller waiting for EOF.
        log = str(self.dir / "server.log")
        return ["-D", str(self.data), "-l", log, "-o", self._options()]

    def start(self) -> None:
        self._run("pg_ctl", *self._control(), "-w", "start")

    def restart(self) -> None:
        """A fast restart: sessions are terminated, connections refused until it is up again."""
        self._run("pg_ctl", *self._control(), "-m", "fast", "-w", "restart")

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)
