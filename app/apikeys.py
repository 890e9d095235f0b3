"""API keys: random secrets shown once, stored only as SHA-256 hashes, with scopes and a tier."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections import OrderedDict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, update

from app.db import Database
from app.models import ApiKey
from app.timeutil import utcnow

SCOPES = ("read", "ingest", "admin")
TIERS = ("free", "partner", "internal")
KEY_PREFIX = "ic_"


class InvalidKeyRequest(ValueError):
    """A key was asked for with an unknown scope or tier, or an empty name."""


@dataclass(frozen=True, slots=True)
class KeyRecord:
    id: int
    name: str
    prefix: str
    scopes: frozenset[str]
    tier: str
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def hash_key(token: str) -> str:
    # Keys are 160 random bits, so a fast hash is safe; nothing slower is needed per request.
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _record(row: ApiKey | Any) -> KeyRecord:
    return KeyRecord(
        id=row.id,
        name=row.name,
        prefix=row.prefix,
        scopes=frozenset(s for s in row.scopes.split(",") if s),
        tier=row.tier,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


async def create_key(
    db: Database, name: str, scopes: Collection[str] = ("read",), tier: str = "partner"
) -> tuple[str, KeyRecord]:
    """Create a key; the plain token is returned here once and never stored."""
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidKeyRequest("name must be 1 to 100 characters")
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise InvalidKeyRequest(
            f"scopes must be among {', '.join(SCOPES)}; got {unknown or 'none'}"
        )
    if tier not in TIERS:
        raise InvalidKeyRequest(f"tier must be one of {', '.join(TIERS)}; got {tier!r}")
    token = KEY_PREFIX + secrets.token_urlsafe(20)
    row = ApiKey(
        name=name,
        prefix=token[:10],
        key_hash=hash_key(token),
        scopes=",".join(s for s in SCOPES if s in set(scopes)),
        tier=tier,
    )
    async with db.sessionmaker.begin() as session:
        session.add(row)
        await session.flush()
        record = _record(row)
    return token, record


async def list_keys(db: Database) -> list[KeyRecord]:
    async with db.sessionmaker() as session:
        rows = (await session.execute(select(ApiKey).order_by(ApiKey.id))).scalars().all()
    return [_record(r) for r in rows]


async def revoke_key(db: Database, key_id: int) -> bool:
    """Revoke a key by id; False when there is no such active key."""
    async with db.sessionmaker.begin() as session:
        result = await session.execute(
            update(ApiKey)
            .where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
    return bool(getattr(result, "rowcount", 0))


# Built once: a request's look-up is one statement on a pooled connection, no ORM, no transaction.
_BY_HASH = select(
    ApiKey.id,
    ApiKey.name,
    ApiKey.prefix,
    ApiKey.scopes,
    ApiKey.tier,
    ApiKey.created_at,
    ApiKey.revoked_at,
).where(ApiKey.key_hash == bindparam("key_hash"))


async def authenticate(db: Database, token: str) -> KeyRecord | None:
    """The active key for `token`, or None for an unknown or revoked one."""
    if not token.startswith(KEY_PREFIX) or len(token) > 100:
        return None
    async with db.read() as conn:
        row = (await conn.execute(_BY_HASH, {"key_hash": hash_key(token)})).one_or_none()
    if row is None or row.revoked_at is not None:
        return None
    return _record(row)


class KeyCache:
    """Active keys authenticated in the last `ttl_s` seconds, by hash, at most `size` of them.

    A partner sends its key with every request; reading it from the database each time costs a
    round trip per request. A key found active is trusted for `ttl_s` (API_KEY_CACHE_S), so a
    revocation reaches every worker of every instance within that time; unknown and revoked
    keys are never remembered (each attempt reads the database, as before). `ttl_s` 0 reads on
    every request.
    """

    def __init__(self, ttl_s: float, size: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.size = size
        self._entries: OrderedDict[str, tuple[float, KeyRecord]] = OrderedDict()

    async def authenticate(self, db: Database, token: str) -> KeyRecord | None:
        if self.ttl_s <= 0:
            return await authenticate(db, token)
        digest = hash_key(token)
        now = time.monotonic()
        entry = self._entries.get(digest)
        if entry is not None and now - entry[0] < self.ttl_s:
            return entry[1]
        record = await authenticate(db, token)
        if record is None:
            self._entries.pop(digest, None)
            return None
        self._entries[digest] = (now, record)
        self._entries.move_to_end(digest)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
        return record
