"""The pipelined Redis connection (app/redis_pipe.py): replies in order, faults as redis-py's."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
import redis.asyncio as redis
import uvloop
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from app.redis_pipe import RedisPipe, pack
from tests.faults.services import RedisServer

ECHO = "return {KEYS[1], ARGV[1]}"


def pipe_to(url: str, timeout_s: float = 0.2) -> RedisPipe:
    pipe = RedisPipe.for_url(url, timeout_s, 1.0)
    assert pipe is not None
    return pipe


def test_only_plain_urls_to_one_server_get_a_pipe() -> None:
    pipe = RedisPipe.for_url("redis://:s%40cret@cache.internal:6380/3", 0.04, 0.5)
    assert pipe is not None
    assert (pipe.host, pipe.port, pipe.db, pipe.password) == ("cache.internal", 6380, 3, "s@cret")
    assert RedisPipe.for_url("rediss://cache.internal:6380/0", 0.04, 0.5) is None
    assert RedisPipe.for_url("unix:///run/redis.sock", 0.04, 0.5) is None
    assert RedisPipe.for_url("redis://cache.internal/0?socket_timeout=1", 0.04, 0.5) is None
    assert pack([b"SET", "k", 5, 0.5]) == b"*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\n5\r\n$3\r\n0.5\r\n"


def test_the_pipe_runs_on_uvloop_as_the_server_does(redis_url: str) -> None:
    async def main() -> list[Any]:
        pipe = pipe_to(redis_url)
        try:
            return list(await asyncio.gather(pipe.execute(b"PING"), pipe.execute(b"ECHO", "x")))
        finally:
            await pipe.close()

    assert uvloop.run(main()) == [b"PONG", b"x"]


async def test_concurrent_commands_each_get_their_own_reply(private_redis: RedisServer) -> None:
    url = private_redis.url.replace("/0", "/2")  # a database other than 0: SELECT at connect
    pipe = pipe_to(url)
    client = redis.Redis.from_url(url)
    try:
        await client.mset({f"k{i}": f"v{i}" for i in range(200)})
        replies = await asyncio.gather(
            *(pipe.execute(b"MGET", f"k{i}", "none") for i in range(200))
        )
        scripted = await asyncio.gather(*(pipe.script(ECHO, [f"k{i}"], [i]) for i in range(50)))
        with pytest.raises(ResponseError, match="wrong number of arguments"):
            await pipe.execute(b"GET")
        after_error = await pipe.execute(b"GET", "k7")
    finally:
        await pipe.close()
        await client.aclose()
    assert replies == [[f"v{i}".encode(), None] for i in range(200)]
    assert scripted == [[f"k{i}".encode(), str(i).encode()] for i in range(50)]
    assert after_error == b"v7"


async def test_a_script_the_server_forgot_is_sent_again(private_redis: RedisServer) -> None:
    pipe = pipe_to(private_redis.url)
    client = redis.Redis.from_url(private_redis.url)
    try:
        assert await pipe.script(ECHO, ["a"], ["1"]) == [b"a", b"1"]
        await client.script_flush()  # as a restart would
        assert await pipe.script(ECHO, ["b"], ["2"]) == [b"b", b"2"]
    finally:
        await pipe.close()
        await client.aclose()


async def test_a_killed_server_fails_fast_and_the_pipe_reconnects(
    private_redis: RedisServer,
) -> None:
    pipe = pipe_to(private_redis.url)
    try:
        assert await pipe.execute(b"PING") == b"PONG"
        private_redis.kill()
        await asyncio.sleep(0.1)
        started = time.monotonic()
        with pytest.raises((RedisConnectionError, OSError)):
            await pipe.execute(b"PING")
        assert time.monotonic() - started < 1.0
        await private_redis.start()
        assert await pipe.execute(b"PING") == b"PONG"
    finally:
        await pipe.close()


async def test_a_frozen_server_times_out_and_late_replies_reach_nobody_else(
    private_redis: RedisServer,
) -> None:
    pipe = pipe_to(private_redis.url, timeout_s=0.1)
    client = redis.Redis.from_url(private_redis.url)
    try:
        await client.mset({"a": "1", "b": "2"})
        assert await pipe.execute(b"GET", "a") == b"1"
        private_redis.freeze()
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            await pipe.execute(b"GET", "a")
        assert time.monotonic() - started < 0.5
        private_redis.thaw()
        # The late reply to the abandoned GET a comes first; this caller gets its own.
        assert await pipe.execute(b"GET", "b") == b"2"
    finally:
        await pipe.close()
        await client.aclose()
