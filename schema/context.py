"""The per-request context: resources of the process plus this request's loaders."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from strawberry.fastapi import BaseContext

from app.resources import Resources
from app.timeutil import utcnow
from loaders import LoaderEnv, Loaders


@dataclass
class Context(BaseContext):
    resources: Resources
    loaders: Loaders

    def __post_init__(self) -> None:
        super().__init__()

    @classmethod
    def build(cls, resources: Resources, **_: Any) -> Context:
        env = LoaderEnv(db=resources.db, now=utcnow())
        return cls(resources=resources, loaders=Loaders.build(env))
