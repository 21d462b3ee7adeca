"""The access log takes a request's X-Correlation-ID on the same terms as the routes: a UUID's
36-character text, nothing wider (uuid.UUID also reads braces, a urn: prefix, no hyphens)."""

from __future__ import annotations

from uuid import UUID, uuid4

from hypothesis import given
from hypothesis import strategies as st

from api.access_log import correlation_id_of


def _scope(value: str) -> dict[str, object]:
    return {"headers": [(b"x-correlation-id", value.encode("latin-1"))]}


@given(st.uuids())
def test_a_uuid_s_text_is_the_request_s_correlation_id(given_id: UUID) -> None:
    assert correlation_id_of(_scope(str(given_id).upper())) == str(given_id)


@given(st.uuids(), st.sampled_from(["{%s}", "urn:uuid:%s", "nohyphens"]))
def test_what_the_routes_refuse_the_log_does_not_take_either(given_id: UUID, form: str) -> None:
    text = given_id.hex if form == "nohyphens" else form % given_id
    assert str(UUID(text)) == str(given_id)  # uuid.UUID reads it
    taken = correlation_id_of(_scope(text))
    assert taken != str(given_id)  # the log gives the request a fresh id instead
    assert UUID(taken).version == uuid4().version
