"""The entry point uvicorn imports in each worker process: settings from the environment."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.app import create_app
from infra.bootstrap import build
from infra.settings import Settings


def app_from_environment() -> FastAPI:
    """Build this worker's services and app; start and stop them with the server."""
    services = build(Settings())

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        services.start()
        yield
        services.close()

    return create_app(services, lifespan=lifespan)
