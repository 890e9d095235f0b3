"""The tests that prove app instances share state through Redis, run on a Redis Cluster.

Imported unchanged from their modules; this folder's conftest points them at the cluster.
"""

from __future__ import annotations

from tests.cache.conftest import cached_settings, namespace
from tests.cache.test_invalidation import (
    test_ingest_on_one_instance_makes_the_next_read_on_another_fresh,
)
from tests.cache.test_response_tags import (
    redis_response_settings,
    response_settings,
    test_an_ingest_for_one_stock_leaves_responses_about_other_stocks_cached,
    test_get_current_checks_the_tags_an_entry_lists,
    test_two_instances_sharing_redis_agree_on_what_an_ingest_made_stale,
)
from tests.limits.test_budget import stored, test_two_app_instances_share_the_bucket_through_redis
from tests.schema.test_subscription import (
    test_an_ingest_on_one_instance_reaches_subscribers_of_another_through_redis,
)

__all__ = [
    "cached_settings",
    "namespace",
    "redis_response_settings",
    "response_settings",
    "stored",
    "test_an_ingest_for_one_stock_leaves_responses_about_other_stocks_cached",
    "test_an_ingest_on_one_instance_reaches_subscribers_of_another_through_redis",
    "test_get_current_checks_the_tags_an_entry_lists",
    "test_ingest_on_one_instance_makes_the_next_read_on_another_fresh",
    "test_two_app_instances_share_the_bucket_through_redis",
    "test_two_instances_sharing_redis_agree_on_what_an_ingest_made_stale",
]
