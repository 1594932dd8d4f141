"""What the API needs at run time, built once per process and handed to the app."""

from dataclasses import dataclass
from functools import cached_property
from typing import Annotated, cast

from fastapi import Depends, Request

from keyward.core.sealing import Sealer
from keyward.db.engine import Database
from keyward.settings import Settings
from keyward.verifier import Verifier


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    database: Database
    verifier: Verifier

    @cached_property
    def sealer(self) -> Sealer:
        """Seals connector secrets with the server secret (read once, on first need)."""
        return Sealer(self.settings.server_secrets())


def runtime(request: Request) -> Runtime:
    return cast(Runtime, request.app.state.runtime)


def database(request: Request) -> Database:
    return runtime(request).database


def settings(request: Request) -> Settings:
    return runtime(request).settings


RuntimeDep = Annotated[Runtime, Depends(runtime)]
DatabaseDep = Annotated[Database, Depends(database)]
SettingsDep = Annotated[Settings, Depends(settings)]
