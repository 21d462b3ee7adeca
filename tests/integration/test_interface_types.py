"""What the interface publishes must be readable by the clients people already use, and cheap to
watch: the X-Correlation-ID header is documented as a string with a pattern (a generated client
types `format: uuid` as a UUID object and then cannot send it as a header), and the request
metrics are labelled by status class, so a client provoking odd statuses cannot grow the series
without bound."""

from __future__ import annotations

import re
import string
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.conftest import Api
from tests.integration.test_api import new_incident

WRITES = {"post", "put", "patch", "delete"}
STATUS_CLASSES = {"1xx", "2xx", "3xx", "4xx", "5xx"}


def correlation_parameters(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The X-Correlation-ID parameter of every write operation that documents one."""
    found = {}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if method not in WRITES:
                continue
            for parameter in operation.get("parameters", ()):
                if parameter["in"] == "header" and parameter["name"] == "X-Correlation-ID":
                    found[f"{method.upper()} {path}"] = parameter
    return found


def correlation_pattern(document: dict[str, Any]) -> str:
    parameters = correlation_parameters(document)
    (schema,) = {
        repr(parameter["schema"]): parameter["schema"] for parameter in parameters.values()
    }.values()
    pattern: str = schema["pattern"]
    return pattern


def test_the_correlation_header_is_a_patterned_string_on_every_write(
    openapi_document: dict[str, Any],
) -> None:
    parameters = correlation_parameters(openapi_document)

    assert len(parameters) > 20, "every command documents the header"
    for operation, parameter in parameters.items():
        schema = parameter["schema"]
        assert schema["type"] == "string", operation
        assert "format" not in schema, operation  # a generated client would type it as a UUID
        assert schema["pattern"], operation
        assert schema["maxLength"] == 36, operation
        assert re.fullmatch(schema["pattern"], "0b6f1c9e-8a4d-4c1e-9f3a-2d7b5e6a1c04")
        assert re.fullmatch(schema["pattern"], "0B6F1C9E-8A4D-4C1E-9F3A-2D7B5E6A1C04")
        assert not re.search(schema["pattern"], "not-a-uuid")


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_a_correlation_id_matching_the_pattern_is_taken_and_any_other_is_422(
    api: Api, openapi_document: dict[str, Any], data: st.DataObject
) -> None:
    pattern = correlation_pattern(openapi_document)
    matching = data.draw(st.from_regex(pattern, fullmatch=True), label="matching")
    other = data.draw(
        st.text(string.ascii_letters + string.digits + "-{}:", min_size=1, max_size=40).filter(
            lambda text: not re.fullmatch(pattern, text)
        ),
        label="other",
    )
    with api.client() as client:
        client.headers["X-Correlation-ID"] = matching
        taken = client.post(
            "/api/v1/incidents",
            json={
                "title": "Kiosk frozen",
                "service": "kiosks-gates",
                "caller": "budi.santoso",
                "impact": "low",
                "urgency": "low",
            },
        )
        client.headers["X-Correlation-ID"] = other
        refused = client.post(
            "/api/v1/incidents",
            json={
                "title": "Kiosk frozen",
                "service": "kiosks-gates",
                "caller": "budi.santoso",
                "impact": "low",
                "urgency": "low",
            },
        )

    assert taken.status_code == 201, taken.text
    assert taken.headers["X-Correlation-ID"] == matching.lower()
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")


@pytest.mark.usefixtures("directory")
def test_request_metrics_are_labelled_by_status_class_only(api: Api) -> None:
    with api.client() as client:
        first = new_incident(client)  # 201
        client.get(f"/api/v1/incidents/{first['id']}")  # 200
        client.get("/api/v1/incidents/INC-999999")  # 404
        client.post("/api/v1/incidents", json={"title": ""})  # 422
        text = client.get("/metrics").text

    statuses: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if "status" in sample.labels:
                statuses.setdefault(sample.name, set()).add(sample.labels["status"])

    for name in ("itsm_http_requests_total", "itsm_http_request_duration_seconds_count"):
        assert statuses[name] == {"2xx", "4xx"}, name
    assert set().union(*statuses.values()) <= STATUS_CLASSES
