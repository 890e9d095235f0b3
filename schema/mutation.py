"""The Mutation root: `ingestMentions`, a thin wrapper over the ingest service."""

from __future__ import annotations

from datetime import datetime

import strawberry

from app.ingest import IngestResult as ServiceResult
from app.ingest import MentionIn, ingest
from schema.auth import require_scope
from schema.context import Context
from schema.errors import BadUserInput
from schema.types import MentionSource

INGEST_COST = 10


@strawberry.input(
    description="One mention to ingest; without `symbol`, its $CASHTAGs name the stock."
)
class MentionInput:
    symbol: str | None = None
    source: MentionSource
    external_id: str
    author: str | None = None
    text: str
    url: str | None = None
    published_at: datetime


@strawberry.type(description="Why one mention of a batch was rejected; `index` is its position.")
class IngestError:
    index: int
    external_id: str | None
    code: str = strawberry.field(
        description="Stable: UNKNOWN_SYMBOL, NO_SYMBOL, BAD_SYMBOL, EMPTY_TEXT, TEXT_TOO_LONG, "
        "FUTURE_TIMESTAMP, BAD_TIMESTAMP, BAD_URL, UNKNOWN_SOURCE, EMPTY_EXTERNAL_ID, "
        "FIELD_TOO_LONG, BAD_CHARACTER (NUL or lone surrogate), STORE_REFUSED (the database "
        "refused the value)."
    )
    message: str


@strawberry.type(
    description="Partial accept: valid mentions are stored, invalid ones reported in `rejected`; "
    "a re-sent mention (same source and externalId) counts in `duplicates`, never stored twice."
)
class IngestResult:
    accepted: int
    duplicates: int
    rejected: list[IngestError]

    @classmethod
    def from_service(cls, result: ServiceResult) -> IngestResult:
        return cls(
            accepted=result.accepted,
            duplicates=result.duplicates,
            rejected=[
                IngestError(
                    index=r.index, external_id=r.external_id, code=r.code, message=r.message
                )
                for r in result.rejected
            ],
        )


def to_service(m: MentionInput) -> MentionIn:
    return MentionIn(
        source=m.source.value,
        external_id=m.external_id,
        text=m.text,
        published_at=m.published_at,
        symbol=m.symbol,
        author=m.author,
        url=m.url,
    )


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Ingest up to INGEST_MAX_BATCH (500) mentions; needs the `ingest` scope.",
        # A write: a transaction, scoring, cache invalidation and events (Shopify charges 10).
        metadata={"cost": INGEST_COST},
    )
    async def ingest_mentions(
        self, info: strawberry.Info[Context], mentions: list[MentionInput]
    ) -> IngestResult:
        require_scope(info, "ingest")
        resources = info.context.resources
        limit = resources.settings.ingest_max_batch
        if len(mentions) > limit:
            raise BadUserInput(
                "mentions", f"at most {limit} mentions per call, got {len(mentions)}", max=limit
            )
        result = await ingest(resources, [to_service(m) for m in mentions])
        return IngestResult.from_service(result)
