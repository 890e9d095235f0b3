"""The reference operations, verbatim, through an app whose cache, budgets and APQ are on a cluster.

The same tests as tests/schema/test_reference_operations.py: this folder's conftest gives their
`client` an app on the Redis Cluster.
"""

from __future__ import annotations

from tests.schema.test_reference_operations import *  # noqa: F403
