"""Run uvicorn under cProfile and write the stats when it stops (SIGTERM included).

    python -m bench.profile_server STATS_FILE -- UVICORN_ARGS...

uvicorn re-raises the signal that stopped it once it has shut down; a handler of our own turns that
into a normal exit, so the profile is written.
"""

from __future__ import annotations

import cProfile
import signal
import sys
from types import FrameType

import uvicorn.main


def _exit(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def main() -> None:
    stats_file, _, *uvicorn_args = sys.argv[1:]
    signal.signal(signal.SIGTERM, _exit)
    signal.signal(signal.SIGINT, _exit)
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        uvicorn.main.main(uvicorn_args, standalone_mode=False)
    except SystemExit:
        pass
    finally:
        profiler.disable()
        profiler.dump_stats(stats_file)


if __name__ == "__main__":
    main()
