"""Attachments benchmark: upload and download throughput over HTTP, beside a bare file copy of the
same bytes in the same run (the ratios are the figures; the MB/s depend on the machine).

    .venv/bin/python -m benchmarks.attachments [--files 40] [--size-kib 1024] [--out FILE]

Measured side by side, on the service on SQLite in a temporary directory (the blob store a
directory, api/attachments.py), served by uvicorn on loopback in this process:

    copy_write     each file's bytes written to a new file, fsynced and renamed: what the
                   directory store does at the least, the floor of an upload
    upload         POST .../attachments (multipart) of the same bytes, one by one: the body read,
                   the type told from the bytes, the SHA-256, the blob written (fsync, rename),
                   the event written (fsync) and the view caught up before the answer
    copy_read      each file read back whole: the floor of a download
    download       GET .../attachments/{id} of each file, its bytes checked against their hash

Each file's bytes differ (the store keeps equal bytes once). The run stops at the first answer
it did not expect (benchmarks/_expect.py): such a run is void, not a figure. The client shares
the server's process (and its GIL), so the HTTP figures are a floor of what a separate client
sees. One JSON object per line on stdout (and in --out).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn

from api.app import create_app
from api.guards import HTTP_PROTOCOL
from domain.actors import Actor, Role
from infra.settings import Settings
from service.bootstrap import Services, build

from ._expect import UNLIMITED_ENV, expect
from ._report import Report, fresh_dir, ratio, rounded, say

AGENT = Actor(id="bench.agent", role=Role.AGENT)
MIB = 1024 * 1024


def files(count: int, size: int) -> list[bytes]:
    """`count` logs of `size` bytes, each different (plain text: an allowed type)."""
    line = b"2026-12-04 09:12:03 kiosk-3 RFID reader: card not read, retrying\n"
    body = (line * (size // len(line) + 1))[:size]
    return [f"{n:08d}\n".encode() + body[9:] for n in range(count)]


@contextmanager
def served(services: Services) -> Iterator[str]:
    """The app on a free loopback port, in a thread of this process; its base URL."""
    config = uvicorn.Config(
        create_app(services), host="127.0.0.1", port=0, log_level="warning", http=HTTP_PROTOCOL
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def copy_write(directory: Path, blobs: list[bytes]) -> float:
    directory.mkdir()
    start = time.perf_counter()
    for n, data in enumerate(blobs):
        temporary = directory / f".incoming-{n}"
        with temporary.open("wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        temporary.rename(directory / f"{n}")
    return time.perf_counter() - start


def copy_read(directory: Path, blobs: list[bytes]) -> float:
    start = time.perf_counter()
    for n, data in enumerate(blobs):
        if (directory / f"{n}").read_bytes() != data:
            raise RuntimeError(f"file {n} read back different bytes")
    return time.perf_counter() - start


def upload(client: httpx.Client, ref: str, blobs: list[bytes]) -> tuple[float, list[str]]:
    ids = []
    start = time.perf_counter()
    for n, data in enumerate(blobs):
        answer = client.post(
            f"/api/v1/incidents/{ref}/attachments", files={"file": (f"kiosk-{n}.log", data)}
        )
        expect("upload", answer.status_code, {201}, answer.content)
        ids.append(answer.json()["id"])
    return time.perf_counter() - start, ids


def download(client: httpx.Client, ref: str, ids: list[str], blobs: list[bytes]) -> float:
    start = time.perf_counter()
    for attachment, data in zip(ids, blobs, strict=True):
        answer = client.get(f"/api/v1/incidents/{ref}/attachments/{attachment}")
        expect("download", answer.status_code, {200}, answer.content)
        if hashlib.sha256(answer.content).digest() != hashlib.sha256(data).digest():
            raise RuntimeError(f"attachment {attachment} came back with other bytes")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=40)
    parser.add_argument("--size-kib", type=int, default=1024)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    blobs = files(max(1, args.files), max(1, args.size_kib) * 1024)
    total_mib = sum(map(len, blobs)) / MIB
    report = Report(args.out)
    os.environ.update(UNLIMITED_ENV)
    with fresh_dir("attachments", None) as tmp:
        services = build(Settings(data_dir=tmp / "var"))
        services.start()
        try:
            token = services.tokens.issue(AGENT, at=services.clock(), issued_by="bench").token
            with (
                served(services) as base,
                httpx.Client(
                    base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60
                ) as client,
            ):
                made = client.post(
                    "/api/v1/incidents",
                    json={
                        "title": "Kiosk 3 logs",
                        "service": "kiosks-gates",
                        "caller": "budi.santoso",
                        "impact": "low",
                        "urgency": "low",
                    },
                )
                expect("log incident", made.status_code, {201}, made.content)
                ref = made.json()["ref"]
                say(f"{len(blobs)} files of {args.size_kib} KiB: copying, then over HTTP")
                write_s = copy_write(tmp / "copy", blobs)
                upload_s, ids = upload(client, ref, blobs)
                read_s = copy_read(tmp / "copy", blobs)
                download_s = download(client, ref, ids, blobs)
        finally:
            services.close()
    figures = {
        "copy_write": write_s,
        "upload": upload_s,
        "copy_read": read_s,
        "download": download_s,
    }
    for name, seconds in figures.items():
        report.emit(
            name,
            files=len(blobs),
            size_kib=args.size_kib,
            seconds=rounded(seconds, 3),
            mib_per_s=rounded(total_mib / seconds),
            files_per_s=rounded(len(blobs) / seconds),
        )
    report.emit(
        "ratios",
        upload_over_copy=ratio(write_s, upload_s),
        download_over_read=ratio(read_s, download_s),
    )
    report.close()


if __name__ == "__main__":
    main()
