"""A compiled executor: validated operations run from cached plans instead of being interpreted."""

from schema.compiled.executor import CompiledExecutor, plan_cache
from schema.compiled.plan import PlanCache

__all__ = ["CompiledExecutor", "PlanCache", "plan_cache"]
