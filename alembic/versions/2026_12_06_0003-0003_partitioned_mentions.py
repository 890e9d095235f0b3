"""Mentions range-partitioned on published_at (PostgreSQL); idempotency kept by mention_keys.

A unique constraint on a partitioned table must include the partition key, so (source,
external_id) is kept unique by a small unpartitioned table, mention_keys, written in the same
transaction as the mention (app/mention_keys.py). The rows are copied in bounded batches by id;
nothing is lost either way. SQLite keeps the single table: this revision does nothing there.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06 21:30:00+00:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from app.config import get_settings
from app.partitions import DEFAULT_PARTITION, ahead, create_sql, period

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH_ROWS = 50_000
COLUMNS = (
    "id, stock_id, source, external_id, author, text, url, published_at, compound, "
    "positive, neutral, negative, ingested_at"
)
CHECKS = (
    "CONSTRAINT ck_mentions_source_known "
    "CHECK (source IN ('REDDIT', 'TWITTER', 'STOCKTWITS', 'NEWS')), "
    "CONSTRAINT ck_mentions_compound_range CHECK (compound >= -1 AND compound <= 1)"
)
TABLE_BODY = (
    "id bigint NOT NULL DEFAULT nextval('mentions_id_seq'), "
    "stock_id integer NOT NULL, source varchar(16) NOT NULL, external_id varchar(128) NOT NULL, "
    "author varchar(128), text text NOT NULL, url varchar(2048), "
    "published_at timestamptz NOT NULL, compound double precision NOT NULL, "
    "positive double precision NOT NULL, neutral double precision NOT NULL, "
    "negative double precision NOT NULL, ingested_at timestamptz NOT NULL DEFAULT now(), "
    f"{CHECKS}"
)


def _copy(source: str, target: str, keys: bool) -> None:
    """Copy every row of `source` into `target` in batches of BATCH_ROWS ids."""
    conn = op.get_bind()
    last = 0
    while True:
        high = conn.scalar(
            sa.text(
                f"SELECT max(id) FROM (SELECT id FROM {source} WHERE id > :lo "
                "ORDER BY id LIMIT :n) b"
            ),
            {"lo": last, "n": BATCH_ROWS},
        )
        if high is None:
            return
        window = {"lo": last, "hi": high}
        conn.execute(
            sa.text(
                f"INSERT INTO {target} ({COLUMNS}) SELECT {COLUMNS} FROM {source} "
                "WHERE id > :lo AND id <= :hi"
            ),
            window,
        )
        if keys:
            conn.execute(
                sa.text(
                    "INSERT INTO mention_keys (source, external_id, id, published_at) "
                    f"SELECT source, external_id, id, published_at FROM {source} "
                    "WHERE id > :lo AND id <= :hi"
                ),
                window,
            )
        last = high


def _indexes(table: str) -> None:
    op.execute(
        f"CREATE INDEX ix_mentions_stock_published ON {table} "
        "(stock_id, published_at DESC, id DESC)"
    )
    op.execute(
        f"CREATE INDEX ix_mentions_stock_source_published ON {table} "
        "(stock_id, source, published_at DESC, id DESC)"
    )
    op.execute(
        f"ALTER TABLE {table} ADD CONSTRAINT fk_mentions_stock_id_stocks "
        "FOREIGN KEY (stock_id) REFERENCES stocks (id) ON DELETE CASCADE"
    )


# The database itself refuses a second mention with a stored key, as the unique constraint did:
# a row whose key mention_keys does not hold for its id claims it, or fails on the key's primary
# key. The write path claims first (app/mention_keys.py), so for it this is one index probe.
KEY_CHECK = """
CREATE FUNCTION mention_key_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM mention_keys k WHERE k.source = NEW.source
                   AND k.external_id = NEW.external_id AND k.id = NEW.id) THEN
        INSERT INTO mention_keys (source, external_id, id, published_at)
        VALUES (NEW.source, NEW.external_id, NEW.id, NEW.published_at);
    END IF;
    RETURN NEW;
END $$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    settings = get_settings()
    interval = settings.mentions_partition_interval
    conn = op.get_bind()
    op.execute("SET LOCAL timezone = 'UTC'")
    # Writers wait until the copy is done (readers go on): a mention committed after the last
    # batch would otherwise be dropped with the old table.
    op.execute("LOCK TABLE mentions IN SHARE MODE")
    op.execute(
        "CREATE TABLE mention_keys (source varchar(16) NOT NULL, "
        "external_id varchar(128) NOT NULL, id bigint NOT NULL, "
        "published_at timestamptz NOT NULL, "
        "CONSTRAINT pk_mention_keys PRIMARY KEY (source, external_id))"
    )
    op.execute(
        f"CREATE TABLE mentions_part ({TABLE_BODY}) PARTITION BY RANGE (published_at)"
    )
    starts = conn.scalars(
        sa.text(f"SELECT DISTINCT date_trunc('{interval}', published_at) FROM mentions")
    ).all()
    now = datetime.now(UTC)
    spans = {period(s.replace(tzinfo=UTC), interval) for s in starts}
    spans |= set(ahead(now, interval, settings.mentions_partitions_ahead))
    for span in sorted(spans):
        op.execute(create_sql(span).replace("PARTITION OF mentions ", "PARTITION OF mentions_part "))
    op.execute(f"CREATE TABLE {DEFAULT_PARTITION} PARTITION OF mentions_part DEFAULT")
    _copy("mentions", "mentions_part", keys=True)
    op.execute("ALTER SEQUENCE mentions_id_seq OWNED BY NONE")
    op.execute("DROP TABLE mentions")
    op.execute("ALTER TABLE mentions_part RENAME TO mentions")
    op.execute("ALTER SEQUENCE mentions_id_seq OWNED BY mentions.id")
    # Indexes after the copy: built once per partition instead of maintained row by row.
    op.execute("ALTER TABLE mentions ADD CONSTRAINT pk_mentions PRIMARY KEY (id, published_at)")
    _indexes("mentions")
    op.execute(KEY_CHECK)
    op.execute(
        "CREATE TRIGGER mentions_key_check BEFORE INSERT ON mentions "
        "FOR EACH ROW EXECUTE FUNCTION mention_key_check()"
    )
    # Autovacuum never analyzes a partitioned parent: without this, plans over the whole table
    # guess its size.
    op.execute("ANALYZE mentions")
    op.execute("ANALYZE mention_keys")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("LOCK TABLE mentions IN SHARE MODE")
    op.execute(f"CREATE TABLE mentions_flat ({TABLE_BODY})")
    _copy("mentions", "mentions_flat", keys=False)
    op.execute("ALTER SEQUENCE mentions_id_seq OWNED BY NONE")
    op.execute("DROP TABLE mentions")
    op.execute("DROP FUNCTION mention_key_check()")
    op.execute("DROP TABLE mention_keys")
    op.execute("ALTER TABLE mentions_flat RENAME TO mentions")
    op.execute("ALTER SEQUENCE mentions_id_seq OWNED BY mentions.id")
    op.execute("ALTER TABLE mentions ADD CONSTRAINT pk_mentions PRIMARY KEY (id)")
    op.execute(
        "ALTER TABLE mentions ADD CONSTRAINT uq_mentions_source_external_id "
        "UNIQUE (source, external_id)"
    )
    _indexes("mentions")
    op.execute("ANALYZE mentions")
