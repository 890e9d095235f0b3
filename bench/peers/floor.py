"""The floor of a response-cache hit: a bare FastAPI endpoint that returns the same bytes.

`create_app` (run by uvicorn, `--factory`) answers POST /graphql with the body stored for the
operation named in the request (read from the JSON file named by PEERS_FLOOR_BODIES): no
middleware, no cache look-up, no budget; what a hit cannot beat on the same server stack.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi import FastAPI, Request, Response

from bench.config import PROJECT_ROOT, BenchConfig
from bench.server import LOG_DIR, Server

BODIES_ENV = "PEERS_FLOOR_BODIES"


def create_app() -> FastAPI:
    stored: dict[str, str] = json.loads(Path(os.environ[BODIES_ENV]).read_text())
    bodies = [(name.encode(), body.encode()) for name, body in stored.items()]
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/graphql")
    async def graphql(request: Request) -> Response:
        query = await request.body()
        body = next((b for name, b in bodies if name in query), b"{}")
        return Response(body, media_type="application/json")

    return app


@contextmanager
def running_floor(config: BenchConfig, port: int, bodies: dict[str, bytes]) -> Iterator[Server]:
    """The floor on 127.0.0.1:`port`, serving `bodies` by operation name; stopped on exit."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bodies.json"
        path.write_text(json.dumps({name: body.decode() for name, body in bodies.items()}))
        command = [
            sys.executable, "-m", "uvicorn", "bench.peers.floor:create_app", "--factory",
            "--host", config.host, "--port", str(port), "--log-level", "warning",
        ]  # fmt: skip
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        with (LOG_DIR / "floor-server.log").open("wb") as log:
            env = {**os.environ, BODIES_ENV: str(path)}
            process = subprocess.Popen(command, env=env, cwd=PROJECT_ROOT, stdout=log, stderr=log)
            server = Server("floor", f"http://{config.host}:{port}", process)
            try:
                server.wait_ready()
                yield server
            finally:
                server.stop()
