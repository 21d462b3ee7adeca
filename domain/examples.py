"""An example body on a command's schema: OpenAPI shows it beside the fields, and a generated
client's documentation too. tests/integration/test_generated_client.py checks that every request
body has one and that each is a valid body."""

from __future__ import annotations

from typing import Any, cast

from pydantic import ConfigDict


def example(body: dict[str, Any], **config: Any) -> ConfigDict:
    """A model's config (with any other `config`) carrying `body` as its schema's example."""
    return cast(ConfigDict, {**config, "json_schema_extra": {"examples": [body]}})
