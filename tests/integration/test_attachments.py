"""Files on records over real HTTP, on both backends (docs/attachments.md): upload, list and
download on every kind that takes files; the limits (413), the type read from the bytes (415),
names sanitised; a file of a record out of reach answers 404 like its record; a file removed for
privacy answers 410 with its bytes gone and its hash kept; the staff's files hidden from callers."""

from __future__ import annotations

import hashlib
from typing import Any
from uuid import uuid4

import httpx
import pytest

from application.seed import seed
from domain.actors import Role
from service.bootstrap import Services
from tests.integration.conftest import Api

pytestmark = pytest.mark.usefixtures("directory")

SERANG = "perpus-kota-serang"
LEBAK = "perpus-kab-lebak"
#: A PNG's signature and header chunk: what `filetype` reads a PNG by.
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4
LOG = b"2026-12-04 09:12 kiosk-3 RFID reader timeout (kartu anggota)\n" * 50
#: A Windows executable named as a picture: refused by its bytes.
EXE = b"MZ\x90\x00\x03\x00\x00\x00" + bytes(200)

RECORDS = {
    "incidents": {
        "title": "Self-check kiosk 2 offline",
        "service": "kiosks-gates",
        "caller": "budi.santoso",
        "impact": "medium",
        "urgency": "high",
    },
    "service-requests": {"catalogue_item": "card-reprint", "title": "Kartu anggota hilang"},
    "problems": {"title": "Kiosks drop RFID readers"},
    "changes": {"kind": "normal", "title": "Upgrade kiosk firmware"},
}


@pytest.fixture
def seeded(services: Services) -> Services:
    seed(services.desk)  # the catalogue items service requests are made from
    return services


def made(client: httpx.Client, path: str, body: dict[str, Any] | None = None) -> str:
    response = client.post(f"/api/v1/{path}", json=body or RECORDS[path])
    assert response.status_code == 201, response.text
    ref: str = response.json()["ref"]
    return ref


def upload(
    client: httpx.Client,
    path: str,
    ref: str,
    name: str,
    data: bytes,
    *,
    internal: bool = False,
    content_type: str = "application/octet-stream",
) -> httpx.Response:
    return client.post(
        f"/api/v1/{path}/{ref}/attachments",
        files={"file": (name, data, content_type)},
        data={"internal": "true" if internal else "false"},
    )


def attached(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.parametrize("path", RECORDS)
def test_a_file_is_uploaded_listed_and_downloaded_as_its_hash_says(
    api: Api, seeded: Services, path: str
) -> None:
    agent = api.client()
    ref = made(agent, path)
    row = attached(upload(agent, path, ref, "kiosk-3.png", PNG, content_type="text/plain"))
    # the type is the bytes', not the client's word; the event names the bytes by their hash
    assert row["content_type"] == "image/png"
    assert (row["size"], row["sha256"]) == (len(PNG), hashlib.sha256(PNG).hexdigest())
    assert row["name"] == "kiosk-3.png"
    assert row["internal"] is False

    listed = agent.get(f"/api/v1/{path}/{ref}/attachments")
    assert [item["id"] for item in listed.json()["items"]] == [row["id"]]
    got = agent.get(f"/api/v1/{path}/{ref}/attachments/{row['id']}")
    assert got.status_code == 200
    assert got.content == PNG
    assert got.headers["content-type"] == "image/png"
    assert got.headers["content-disposition"].startswith('attachment; filename="kiosk-3.png"')
    assert got.headers["x-content-type-options"] == "nosniff"

    history = agent.get(f"/api/v1/{path}/{ref}/history").json()
    added = [e for e in history["events"] if e["type"].endswith(".AttachmentAdded")]
    assert len(added) == 1, history


def test_a_file_larger_than_the_limit_is_refused_with_413(api: Api, services: Services) -> None:
    agent = api.client()
    ref = made(agent, "incidents")
    limit = services.settings.max_attachment_bytes
    for size in (limit + 1, limit + 100_000):  # within the form's framing, and past it
        refused = upload(agent, "incidents", ref, "big.txt", b"x" * size)
        assert refused.status_code == 413, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
    at_limit = attached(upload(agent, "incidents", ref, "fits.txt", b"y" * limit))
    assert at_limit["size"] == limit


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("kiosk.png", EXE),
        ("form.pdf", b"\x00\x01binary\xff\xfe"),
        ("archive.txt", b"PK\x03\x04" + bytes(60)),
    ],
)
def test_a_file_of_no_allowed_type_is_refused_with_415_whatever_its_name(
    api: Api, services: Services, name: str, data: bytes
) -> None:
    agent = api.client()
    ref = made(agent, "incidents")
    refused = upload(agent, "incidents", ref, name, data, content_type="image/png")
    assert refused.status_code == 415, refused.text
    assert refused.json()["code"] == "unsupported-file-type"
    assert agent.get(f"/api/v1/incidents/{ref}/attachments").json()["items"] == []
    assert not services.blobs.has(hashlib.sha256(data).hexdigest())  # nothing was stored


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("../../../etc/passwd.txt", "passwd.txt"),
        ("C:\\Users\\budi\\log kiosk.txt", "log kiosk.txt"),
        ("..\u202egnp.txt", "gnp.txt"),
        ("lapor\u200b\u200ean.txt", "laporan.txt"),  # format characters (zero-width, LRM)
        ("...", "attachment"),
        ("a" * 300 + ".txt", "a" * 116 + ".txt"),
    ],
)
def test_names_are_sanitised(api: Api, services: Services, given: str, kept: str) -> None:
    agent = api.client()
    ref = made(agent, "incidents")
    row = attached(upload(agent, "incidents", ref, given, LOG))
    assert row["name"] == kept
    got = agent.get(f"/api/v1/incidents/{ref}/attachments/{row['id']}")
    assert "/" not in got.headers["content-disposition"].split("filename*=")[0]


def test_a_file_of_a_record_out_of_reach_answers_404_like_its_record(
    api: Api, services: Services
) -> None:
    serang = api.client("rudi.serang", Role.AGENT, organisation=SERANG)
    lebak = api.client("asep.lebak", Role.AGENT, organisation=LEBAK)
    ref = made(serang, "incidents")
    row = attached(upload(serang, "incidents", ref, "kiosk.png", PNG))
    missing = f"INC-{999999:06d}"
    for method, suffix in (
        ("GET", "attachments"),
        ("GET", f"attachments/{row['id']}"),
    ):
        hidden = lebak.request(method, f"/api/v1/incidents/{ref}/{suffix}")
        absent = lebak.request(method, f"/api/v1/incidents/{missing}/{suffix}")
        assert hidden.status_code == 404 == absent.status_code, hidden.text
        assert hidden.json()["code"] == absent.json()["code"]
        assert hidden.json()["detail"] == absent.json()["detail"].replace(missing, ref)
    refused = upload(lebak, "incidents", ref, "x.txt", b"not mine\n")
    assert refused.status_code == 404
    assert not services.blobs.has(hashlib.sha256(b"not mine\n").hexdigest())
    # a file id of another record, under a record the caller reaches, is no file of it
    own = made(lebak, "incidents")
    assert lebak.get(f"/api/v1/incidents/{own}/attachments/{row['id']}").status_code == 404


def test_a_file_removed_for_privacy_answers_410_and_its_hash_stays(
    api: Api, services: Services
) -> None:
    agent = api.client()
    ref = made(agent, "incidents")
    row = attached(upload(agent, "incidents", ref, "card.png", PNG))
    path = f"/api/v1/incidents/{ref}/attachments/{row['id']}"
    removed = agent.post(f"{path}/remove", json={"reason": "shows a member's card number"})
    assert removed.status_code == 200, removed.text
    assert removed.json()["removed"]["reason"] == "shows a member's card number"

    gone = agent.get(path)
    assert gone.status_code == 410
    assert gone.headers["content-type"] == "application/problem+json"
    assert gone.json()["code"] == "attachment-gone"
    assert not services.blobs.has(row["sha256"])  # the bytes are deleted
    history = agent.get(f"/api/v1/incidents/{ref}/history").json()["events"]
    removal = [e for e in history if e["type"] == "Incident.AttachmentRemoved"]
    assert len(removal) == 1, history
    assert removal[0]["data"]["sha256"] == row["sha256"]
    again = agent.post(f"{path}/remove", json={"reason": "again"})
    assert again.status_code == 409
    assert agent.post(f"{path}/remove", json={"reason": ""}).status_code == 422


def test_the_staffs_files_are_hidden_from_the_caller(api: Api, services: Services) -> None:
    agent = api.client()
    budi = api.client("budi.santoso", Role.REQUESTER)
    ref = made(budi, "incidents")
    public = attached(upload(budi, "incidents", ref, "screen.png", PNG))
    internal = attached(upload(agent, "incidents", ref, "router.log", LOG, internal=True))
    assert internal["internal"] is True

    seen = budi.get(f"/api/v1/incidents/{ref}/attachments").json()["items"]
    assert [item["id"] for item in seen] == [public["id"]]
    assert budi.get(f"/api/v1/incidents/{ref}/attachments/{internal['id']}").status_code == 404
    history = budi.get(f"/api/v1/incidents/{ref}/history").json()["events"]
    assert not [e for e in history if "Internal" in e["type"]]
    staff = agent.get(f"/api/v1/incidents/{ref}/attachments").json()["items"]
    assert {item["id"] for item in staff} == {public["id"], internal["id"]}

    # a requester's files are never the staff's only, and they remove none
    refused = upload(budi, "incidents", ref, "mine.txt", LOG, internal=True)
    assert refused.status_code == 403, refused.text
    removal = budi.post(
        f"/api/v1/incidents/{ref}/attachments/{public['id']}/remove", json={"reason": "mine"}
    )
    assert removal.status_code == 403
    # nor do they reach another caller's incident's files
    other = api.client("sari.dewi", Role.REQUESTER)
    assert other.get(f"/api/v1/incidents/{ref}/attachments").status_code == 404


def test_a_retried_upload_with_its_idempotency_key_records_one_file(
    api: Api, services: Services
) -> None:
    agent = api.client()
    ref = made(agent, "incidents")
    key = {"Idempotency-Key": str(uuid4())}
    files = {"file": ("kiosk.png", PNG, "image/png")}
    first = agent.post(f"/api/v1/incidents/{ref}/attachments", files=files, headers=key)
    second = agent.post(f"/api/v1/incidents/{ref}/attachments", files=files, headers=key)
    assert first.status_code == 201, first.text
    assert second.status_code == 201, second.text
    assert first.json()["id"] == second.json()["id"]
    assert len(agent.get(f"/api/v1/incidents/{ref}/attachments").json()["items"]) == 1
