"""Who is calling: an API key's principal, or an anonymous client keyed by address."""

from __future__ import annotations

from dataclasses import dataclass

import strawberry
from starlette.requests import HTTPConnection

from app.apikeys import KeyRecord
from app.ratelimit import anonymous_client
from app.resources import Resources
from schema.errors import ApiError, Forbidden, retry_later

ANONYMOUS_SCOPES = frozenset({"read"})


class Unauthenticated(ApiError):
    code = "UNAUTHENTICATED"


@dataclass(frozen=True, slots=True)
class Principal:
    client_id: str  # "key:<id>" or "ip:<address>": what budgets and limits are counted against
    scopes: frozenset[str]
    tier: str
    key: KeyRecord | None = None

    @property
    def is_anonymous(self) -> bool:
        return self.key is None

    @classmethod
    def anonymous(cls, address: str) -> Principal:
        return cls(client_id=anonymous_client(address), scopes=ANONYMOUS_SCOPES, tier="anonymous")

    @classmethod
    def for_key(cls, key: KeyRecord) -> Principal:
        return cls(client_id=f"key:{key.id}", scopes=key.scopes, tier=key.tier, key=key)


def bearer_token(authorization: str | None) -> str | None:
    if authorization is None:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("Authorization header must be 'Bearer <api key>'")
    return token.strip()


async def identify(
    resources: Resources, connection: HTTPConnection, token: str | None
) -> Principal:
    """The caller's principal; an unknown or revoked key is refused, never downgraded."""
    if token is None:
        address = connection.client.host if connection.client else "unknown"
        return Principal.anonymous(address)
    try:
        key = await resources.keys.authenticate(resources.db, token)
    except Exception as exc:
        fault = retry_later(exc)
        if fault is None:
            raise
        raise fault from None
    if key is None:
        raise Unauthenticated("API key is unknown or revoked")
    return Principal.for_key(key)


def require_scope(info: strawberry.Info, scope: str) -> Principal:
    principal: Principal = info.context.principal
    if scope not in principal.scopes:
        raise Forbidden(f"this field needs an API key with the '{scope}' scope", scope=scope)
    return principal
