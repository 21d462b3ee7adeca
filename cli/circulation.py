"""`itsm consume circulation`, `itsm dlq list|replay` and `itsm simulate circulation`
(see docs/circulation.md)."""

from __future__ import annotations

import itertools
import time
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import click
import orjson

from cli.options import count_option, data_dir_option, settings_for
from infra import cloudevents
from infra.settings import Settings


def _desk_services(settings: Settings) -> Any:
    """The service desk the rules act through (its own store; no Kafka mode of its own)."""
    from service.bootstrap import build

    return build(settings.model_copy(update={"kafka_bootstrap": None}))


@click.command("circulation")
@data_dir_option
@click.option("--kafka", "bootstrap", envvar="ITSM_KAFKA_BOOTSTRAP", required=True)
@click.option("--instance-id", default=None, help="static group membership name")
def consume_circulation(data_dir: Path | None, bootstrap: str, instance_id: str | None) -> None:
    """Apply the circulation.events topic: validate, deduplicate, health, correlation rules."""
    from cli.running import log_to_stderr, stop_on_signals
    from infra.kafka_clients import ensure_topics
    from processes.circulation import build_circulation_consumer, circulation_topics

    settings = settings_for(data_dir)
    log_to_stderr(settings.log_level)
    ensure_topics(bootstrap, circulation_topics(settings), settings.kafka_replication)
    services = _desk_services(settings)
    try:
        consumer = build_circulation_consumer(
            settings, bootstrap, services.desk, instance_id=instance_id
        )
        consumer.run(stop_on_signals())
    finally:
        services.close()


# -- dead letters ----------------------------------------------------------------------------------


@click.group()
def dlq() -> None:
    """Dead letters of the circulation stream: list them, replay them once fixed."""


@dlq.command("list")
@data_dir_option
def dlq_list(data_dir: Path | None) -> None:
    """The dead-letter table (embedded mode): sequence, time, entry point, reason, replay."""
    from infra.circulation_store import CirculationStore

    store = CirculationStore(settings_for(data_dir).circulation_db)
    try:
        for row in store.dead_letters():
            click.echo(
                f"{row.seq:>6}  {row.at.isoformat(timespec='seconds')}  {row.entry:<8} "
                f"{row.replayed or 'pending':<10} {row.reason}"
            )
    finally:
        store.close()


@dlq.command("replay")
@data_dir_option
@click.option("--seq", "seqs", type=int, multiple=True, help="only these dead letters")
@click.option(
    "--fixed",
    type=click.File("rb"),
    default=None,
    help='NDJSON of corrected events: {"seq": N, "event": {...}} per line',
)
@click.option(
    "--kafka",
    "bootstrap",
    default=None,
    help="replay circulation.events.dlq onto circulation.events instead of the table",
)
@count_option(
    "--batch",
    most=10_000,
    default=500,
    help="--kafka: dead letters re-published per transaction (the unit of progress)",
)
def dlq_replay(
    data_dir: Path | None,
    seqs: tuple[int, ...],
    fixed: Any,
    bootstrap: str | None,
    batch: int,
) -> None:
    """Send dead letters back through the pipeline: as they were (once what refused them is
    fixed) or as corrected in --fixed (--kafka: keyed by DLQ offset). A replay takes the dead
    letters there are when it starts and ends; each is replayed once, recorded with its effect,
    and a replay stopped half way resumes where it stopped. One that fails again becomes a new
    dead letter with its new reason, for the next replay."""
    settings = settings_for(data_dir)
    corrections: dict[int, bytes] = {}
    if fixed is not None:
        for line in fixed:
            if line.strip():
                entry = orjson.loads(line)
                corrections[int(entry["seq"])] = orjson.dumps(entry["event"])
    if bootstrap:
        sent = _replay_kafka(settings, bootstrap, corrections, batch)
        click.echo(f"re-published {sent} dead letters to {settings.circulation_topic}", err=True)
        return
    from infra.clock import utcnow
    from processes.circulation import build_pipeline

    services = _desk_services(settings)
    pipeline = build_pipeline(settings, services.desk)
    store = pipeline.store
    try:
        run = None
        if seqs or corrections:  # the dead letters named: those of them not replayed yet
            wanted: set[int] | None = set(seqs) | set(corrections)
        else:  # the snapshot of a run: what there is now (or was, when a stopped run began)
            wanted, run = None, store.begin_replay_run(utcnow())
            if run.resumed:
                click.echo(f"resuming an unfinished replay (up to #{run.until_seq})", err=True)
        pending = [
            row
            for row in store.dead_letters(wanted)
            if row.replayed is None and (run is None or row.seq <= run.until_seq)
        ]
        for row in pending:
            result = pipeline.replay_dead_letter(row.seq, corrections.get(row.seq, row.raw))
            if result is None:
                click.echo(f"{row.seq:>6}  replayed meanwhile by another replay")
                continue
            reason = f": {result.dead[0].reason}" if result.dead else ""
            click.echo(f"{row.seq:>6}  {result.outcome}{reason}")
        if run is not None:
            store.finish_replay_run(run, utcnow())
    finally:
        store.close()
        services.close()


def _replay_kafka(
    settings: Settings, bootstrap: str, corrections: dict[int, bytes], batch: int
) -> int:
    """Re-publish the DLQ topic's snapshot (processes/circulation_replay.py), showing progress."""
    from cli.progress import shown
    from processes.circulation_replay import KafkaReplay, Snapshot

    replay = KafkaReplay(settings, bootstrap, corrections=corrections, batch=batch)
    with shown("dead letters") as bar:

        def started(snapshot: Snapshot) -> None:
            if snapshot.resumed:
                bar.note(f"resuming an unfinished replay: {snapshot.total:,} left")
            else:
                bar.note(f"replaying {snapshot.total:,} dead letters")

        def progress(sent: int, total: int) -> None:
            bar("replayed", sent, total)  # its line begins "replayed" where stderr is no terminal

        return replay.run(on_start=started, on_progress=progress)


# -- the simulator ---------------------------------------------------------------------------------


@click.command("circulation")
@click.option("--kafka", "bootstrap", default=None, help="send to circulation.events here")
@click.option("--http", "url", default=None, help="or POST NDJSON batches to this API base URL")
@click.option("--token", envvar="ITSM_TOKEN", default=None, help="integration token for --http")
@click.option("--rate", type=float, default=200.0, show_default=True, help="events per second")
@click.option("--events", "count", type=int, default=None, help="stop after N [default: never]")
@click.option("--start", default=None, help="simulated start (ISO 8601) [default: today 07:30]")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--faults/--no-faults", default=True, show_default=True)
@click.option("--batch", type=int, default=500, show_default=True, help="events per send")
def simulate_circulation(
    bootstrap: str | None,
    url: str | None,
    token: str | None,
    rate: float,
    count: int | None,
    start: str | None,
    seed: int,
    faults: bool,
    batch: int,
) -> None:
    """Produce a realistic circulation stream (opening hours, ~15,000 loans a day across the
    province's branches, kiosks and gates, injected faults) to Kafka or over HTTP."""
    from cli.progress import shown
    from infra.clock import utcnow
    from processes.simulator import Simulator, start_of_day

    if (bootstrap is None) == (url is None):
        raise click.UsageError("give one of --kafka or --http")
    if url is not None and token is None:
        raise click.UsageError("--http needs --token (an integration token) or ITSM_TOKEN")
    settings = Settings()
    begin = datetime.fromisoformat(start) if start else start_of_day(utcnow())
    simulator = Simulator(start=begin, seed=seed, faults=faults)
    messages: Iterator[bytes] = simulator.messages()
    if count is not None:
        messages = itertools.islice(messages, count)
    send = (
        _kafka_sender(bootstrap, settings.circulation_topic)
        if bootstrap
        else _http_sender(str(url), str(token))
    )
    started = time.monotonic()
    total = 0
    try:
        with shown("events") as bar:
            while chunk := list(itertools.islice(messages, batch)):
                send(chunk)
                total += len(chunk)
                bar("sent", total, count)  # no total without --events: a count and a rate
                ahead = total / rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
    except KeyboardInterrupt:
        pass
    finally:
        send([])
    elapsed = time.monotonic() - started
    click.echo(f"sent {total:,} events in {elapsed:.1f} s", err=True)


def _kafka_sender(bootstrap: str, topic: str) -> Any:
    from infra import kafka_clients
    from processes.circulation import circulation_topics

    kafka_clients.ensure_topics(bootstrap, circulation_topics(Settings()))
    producer = kafka_clients.producer(bootstrap, client_id="itsm-simulator")

    def send(chunk: list[bytes]) -> None:
        if not chunk:
            producer.flush()
            producer.close()
            return
        for message in chunk:
            producer.send(
                topic, value=message, key=_source_of(message), headers=cloudevents.HEADERS
            )

    return send


def _source_of(message: bytes) -> bytes | None:
    """The Kafka key: the sender, so each sender's events stay in order on one partition."""
    try:
        source = orjson.loads(message).get("source")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return source.encode() if isinstance(source, str) else None


def _http_sender(url: str, token: str) -> Any:
    endpoint = url.rstrip("/") + "/api/v1/ingest/circulation"

    def send(chunk: list[bytes]) -> None:
        if not chunk:
            return
        request = urllib.request.Request(
            endpoint,
            data=b"\n".join(chunk) + b"\n",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            response.read()

    return send
