"""The `itsm` command: one entry point for every process the service runs."""

from __future__ import annotations

import getpass
import os
import shutil
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import click

from cli.options import data_dir_option, settings_for
from cli.postgres import postgres
from cli.running import log_to_stderr, stop_on_signals
from domain.actors import Actor, Role
from infra.settings import InsecureConfiguration, Settings


def _service_settings(data_dir: Path | None, **overrides: Any) -> Settings:
    """Settings for a process of the service: in production, only with real secrets."""
    settings = settings_for(data_dir, **overrides)
    try:
        settings.refuse_if_insecure()
    except InsecureConfiguration as error:
        raise click.ClickException(str(error)) from None
    return settings


@click.group()
def main() -> None:
    """Event-sourced ITSM backend for the Banten provincial library office."""


@main.command()
@data_dir_option
@click.option("--host", default=None, help="[default: 127.0.0.1]")
@click.option("--port", type=int, default=None, help="[default: 8000]")
@click.option("--workers", type=int, default=None, help="API processes [default: 1]")
@click.option(
    "--access-log/--no-access-log",
    default=True,
    help="log every request (in ITSM_LOG_FORMAT: json or text) [default: yes]",
)
@click.option(
    "--database-url",
    default=None,
    help="PostgreSQL instead of SQLite, e.g. from `itsm postgres up` [or ITSM_DATABASE_URL]",
)
@click.option(
    "--kafka",
    "bootstrap",
    default=None,
    help="Kafka mode: publish the store to this broker, feed the views from it"
    " [or ITSM_KAFKA_BOOTSTRAP]",
)
@click.option(
    "--relay/--no-relay", default=None, help="Kafka mode: run the relay in-process [default: yes]"
)
@click.option(
    "--consume/--no-consume",
    default=None,
    help="Kafka mode: run the projection consumer in-process [default: yes]",
)
def serve(
    data_dir: Path | None,
    host: str | None,
    port: int | None,
    workers: int | None,
    access_log: bool,
    database_url: str | None,
    bootstrap: str | None,
    relay: bool | None,
    consume: bool | None,
) -> None:
    """Run the API with the event store and projections (SQLite, or PostgreSQL).

    Embedded (the default), the projections follow the event store in this process. With
    --kafka, the relay publishes the store to Kafka and the views are fed from the topic: by a
    consumer in this process, or by `itsm consume projections` elsewhere (--no-consume).
    """
    import uvicorn

    from api.gate import proxy_options
    from api.guards import HTTP_PROTOCOL
    from infra import logs
    from infra.pg import PostgresAddress

    settings = _service_settings(
        data_dir,
        host=host,
        port=port,
        workers=workers,
        database_url=database_url,
        kafka_bootstrap=bootstrap,
        kafka_relay=relay,
        kafka_consume=consume,
    )
    # Worker processes read their settings from the environment, like any deployment would.
    os.environ["ITSM_DATA_DIR"] = str(settings.data_dir.resolve())
    if settings.kafka_bootstrap:
        os.environ["ITSM_KAFKA_BOOTSTRAP"] = settings.kafka_bootstrap
        os.environ["ITSM_KAFKA_RELAY"] = str(settings.kafka_relay).lower()
        os.environ["ITSM_KAFKA_CONSUME"] = str(settings.kafka_consume).lower()
        click.echo(f"Kafka mode: {settings.kafka_bootstrap} ({settings.kafka_topic})", err=True)
    if settings.database_url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        click.echo(f"event store: {settings.events_db}", err=True)
    else:
        os.environ["ITSM_DATABASE_URL"] = settings.database_url
        address = PostgresAddress.parse(settings.database_url)
        click.echo(f"event store: PostgreSQL at {address}", err=True)
    _signer_ready(settings)
    _metrics_across_workers(settings)
    click.echo(f"API on http://{settings.host}:{settings.port}  (docs: /docs)", err=True)
    # Each worker process configures its logging from this (uvicorn passes it on); uvicorn's
    # own access log stays off, the service writes its own (api/access_log.py).
    log_config = logs.config(settings.log_format, settings.log_level)
    if not access_log:
        log_config["loggers"]["itsm.access"] = {"level": "WARNING"}
    uvicorn.run(
        "console.main:app_from_environment",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        timeout_worker_healthcheck=settings.worker_healthcheck_timeout,
        log_level=settings.log_level,
        log_config=log_config,
        access_log=False,
        http=HTTP_PROTOCOL,  # a request it cannot parse is answered as a problem too
        **proxy_options(settings),  # the client address the gate throttles (api/gate.py)
    )


def _signer_ready(settings: Settings) -> None:
    """A checkpoint key on a PKCS#11 token is reached before any worker starts: a wrong PIN or
    a missing token or key stops the start with the reason, not each worker with a trace."""
    if settings.audit_pkcs11_module is None:
        return
    from audit.service import keyring
    from audit.signers import SignerUnavailable

    try:
        signers = keyring(settings)
        try:
            signer = signers.configured()
        finally:
            signers.close()
    except SignerUnavailable as error:
        raise click.ClickException(f"the audit signing key: {error}") from None
    click.echo(f"audit checkpoints signed on the PKCS#11 token: key {signer.key_id}", err=True)


def _metrics_across_workers(settings: Settings) -> None:
    """With several workers, /metrics must count every worker's requests (api/metrics.py): they
    keep their metrics in files under the data directory, emptied at each start (a previous
    run's files would count again)."""
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    if settings.workers > 1:
        directory = settings.data_dir.resolve() / "metrics"
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)


@main.group()
def tokens() -> None:
    """API bearer tokens."""


def _lifetime(_ctx: click.Context, _param: click.Parameter, value: str) -> timedelta | None:
    """`90d`, `12h`, `30m` or `never`."""
    if value == "never":
        return None
    units = {"d": "days", "h": "hours", "m": "minutes"}
    amount, unit = value[:-1], value[-1:]
    if unit not in units or not amount.isdigit() or int(amount) < 1:
        raise click.BadParameter(f"{value!r}: give e.g. 90d, 12h, 30m or never")
    return timedelta(**{units[unit]: int(amount)})


def _organisation(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """One of the organisations of the seed catalogue (the provincial office and the eight
    regency/city libraries): a token for a code no record carries would reach nothing."""
    from domain.organisations import ORGANISATIONS

    codes = [code for code, _, _ in ORGANISATIONS]
    if value is not None and value not in codes:
        raise click.BadParameter(f"{value!r} is not one of the organisations: {', '.join(codes)}")
    return value


def _actor_id(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    """A name events can record: 1 to 200 characters, no control character."""
    from pydantic import ValidationError

    try:
        Actor(id=value, role=Role.AGENT)
    except ValidationError:
        raise click.BadParameter(
            f"{value!r} is not a usable name: 1 to 200 characters, no control character"
        ) from None
    return value


@tokens.command("create")
@data_dir_option
@click.option(
    "--actor",
    required=True,
    callback=_actor_id,
    help="who the token speaks for, e.g. siti.rahma",
)
@click.option(
    "--role",
    required=True,
    type=click.Choice([r.value for r in Role if r is not Role.SYSTEM]),
    help="the actor's role",
)
@click.option(
    "--organisation",
    default=None,
    callback=_organisation,
    help="the organisation whose records the actor works on, e.g. perpus-kota-serang"
    " (one of the nine in the seed catalogue; default: the provincial office, dpk-banten)",
)
@click.option(
    "--all-organisations", is_flag=True, help="grant every organisation's records (agents)"
)
@click.option(
    "--expires-in",
    "lifetime",
    default="90d",
    show_default=True,
    callback=_lifetime,
    help="how long the token is valid: 90d, 12h, 30m, or never",
)
def create_token(
    data_dir: Path | None,
    actor: str,
    role: str,
    organisation: str | None,
    all_organisations: bool,
    lifetime: timedelta | None,
) -> None:
    """Issue a token. It is printed once and stored only as a digest."""
    from infra.clock import utcnow
    from service.bootstrap import token_store

    with token_store(settings_for(data_dir)) as store:
        issued = store.issue(
            Actor(id=actor, role=Role(role)),
            at=utcnow(),
            issued_by=f"cli:{getpass.getuser()}",
            lifetime=lifetime,
            organisation=organisation,
            all_organisations=all_organisations,
        )
    click.echo(issued.token)
    until = (
        "no expiry"
        if issued.expires_at is None
        else f"valid until {issued.expires_at:%Y-%m-%d %H:%M} UTC"
    )
    click.echo(
        f"token {issued.token_id} for {actor} ({role}), {until}; it will not be shown again",
        err=True,
    )


@tokens.command("list")
@data_dir_option
def list_tokens(data_dir: Path | None) -> None:
    """Every token issued: whose, until when, and whether it was revoked (never the secret)."""
    from infra.clock import utcnow
    from service.bootstrap import token_store

    now = utcnow()
    with token_store(settings_for(data_dir)) as store:
        records = store.records()
    rows = [("id", "actor", "role", "organisation", "issued", "expires", "status")]
    for r in records:
        who = r.identity
        status = (
            "revoked"
            if r.revoked_at
            else "expired"
            if r.expires_at and r.expires_at <= now
            else "valid"
        )
        rows.append(
            (
                r.token_id,
                who.actor.id,
                who.actor.role.value,
                "(all)" if who.all_organisations else who.organisation or "-",
                f"{r.issued_at:%Y-%m-%d}",
                "never" if r.expires_at is None else f"{r.expires_at:%Y-%m-%d %H:%M}",
                status,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


@tokens.command("revoke")
@data_dir_option
@click.argument("token_id")
@click.option("--reason", required=True, help="why, for the record")
def revoke_token(data_dir: Path | None, token_id: str, reason: str) -> None:
    """Revoke a token (by the id `tokens list` shows); refused within seconds everywhere."""
    from infra.clock import utcnow
    from service.bootstrap import token_store

    with token_store(settings_for(data_dir)) as store:
        try:
            done = store.revoke(
                token_id, at=utcnow(), revoked_by=f"cli:{getpass.getuser()}", reason=reason
            )
        except KeyError:
            raise click.ClickException(f"no token {token_id}") from None
    click.echo(f"token {token_id} {'revoked' if done else 'was already revoked'}")


@tokens.command("history")
@data_dir_option
@click.argument("token_id", required=False)
def token_history(data_dir: Path | None, token_id: str | None) -> None:
    """Who could do what, from the record: each token's issue and revocation (of one token, or of
    every token), with who did it and when (Asia/Jakarta time). Never the secret or its digest."""
    from application.api_tokens import token_events
    from service.bootstrap import token_store

    with token_store(settings_for(data_dir)) as store:
        lines = [_history_line(event) for event in token_events(store.desk, token_id)]
    if token_id is not None and not lines:
        raise click.ClickException(f"no token {token_id}")
    for line in lines:
        click.echo(line)


def _history_line(event: Any) -> str:
    """One token event as the history prints it: when, by whom, which token, what."""
    from zoneinfo import ZoneInfo

    from domain.api_token import Granted, Imported, Revoked
    from domain.organisations import PROVINCE

    jakarta = ZoneInfo("Asia/Jakarta")

    def when(moment: Any) -> str:
        return f"{moment.astimezone(jakarta):%Y-%m-%d %H:%M:%S} WIB"

    head = f"{when(event.timestamp)}  {event.actor.id} ({event.actor.role.value})"
    if isinstance(event, Revoked):
        return f"{head}  revoked {event.token_id}: {event.reason}"
    assert isinstance(event, Granted)
    scope = "all organisations" if event.all_organisations else event.organisation or PROVINCE
    until = "no expiry" if event.expires_at is None else f"until {when(event.expires_at)}"
    grant = f"{event.holder.id} ({event.holder.role.value}, {scope}), {until}"
    if not isinstance(event, Imported):
        return f"{head}  issued {event.token_id} to {grant}"
    line = (
        f"{head}  {event.source}: {event.token_id} to {grant},"
        f" issued {when(event.issued_at)} by {event.issued_by}"
    )
    if event.revoked_at is not None:
        line += (
            f"; revoked {when(event.revoked_at)} by {event.revoked_by}:"
            f" {event.revocation_reason or '(no reason given)'}"
        )
    return line


kafka_option = click.option(
    "--kafka",
    "bootstrap",
    envvar="ITSM_KAFKA_BOOTSTRAP",
    required=True,
    help="Kafka bootstrap servers, e.g. 127.0.0.1:9092 (or ITSM_KAFKA_BOOTSTRAP)",
)


@main.command()
@data_dir_option
@kafka_option
def relay(data_dir: Path | None, bootstrap: str) -> None:
    """Publish the event store to Kafka, in order, as CloudEvents (one relay per store)."""
    from infra.kafka_clients import ensure_topics
    from service.kafka_mode import build_relay, topics

    settings = _service_settings(data_dir)
    log_to_stderr(settings.log_level)
    ensure_topics(bootstrap, topics(settings), settings.kafka_replication)
    publisher, lock = build_relay(settings, bootstrap)
    publisher.run(stop_on_signals(), lock)


@main.group()
def consume() -> None:
    """Processes fed from Kafka."""


@consume.command("projections")
@data_dir_option
@kafka_option
@click.option(
    "--instance-id",
    default=None,
    help="a stable name for this consumer (static group membership: restarts skip rebalancing)",
)
def consume_projections(data_dir: Path | None, bootstrap: str, instance_id: str | None) -> None:
    """Build the read models from the itsm.events topic (exactly-once effect)."""
    from infra.kafka_clients import ensure_topics
    from service.kafka_mode import build_projection_consumer, topics

    settings = _service_settings(data_dir)
    log_to_stderr(settings.log_level)
    ensure_topics(bootstrap, topics(settings), settings.kafka_replication)
    build_projection_consumer(settings, bootstrap, instance_id).run(stop_on_signals())


@main.group()
def schemas() -> None:
    """JSON Schemas of the messages the service publishes."""


@schemas.command("export")
@click.argument(
    "directory", type=click.Path(file_okay=False, path_type=Path), default=Path("docs/schemas")
)
def export_schemas(directory: Path) -> None:
    """Write the CloudEvents envelope schema and one schema per event type to DIRECTORY."""
    from service.schemas import export

    written = export(directory)
    click.echo(f"wrote {len(written)} schemas under {directory}", err=True)


@main.group()
def authorisation() -> None:
    """Who may call what."""


@authorisation.command("table")
@click.option(
    "--write",
    "target",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="write the table into this Markdown file, between its table markers",
)
def authorisation_table(target: Path | None) -> None:
    """Every API route and the roles that may call it, as a Markdown table."""
    import tempfile

    from api.app import create_app
    from api.authorisation import decisions, table
    from service.bootstrap import build

    with tempfile.TemporaryDirectory() as scratch:
        services = build(Settings(data_dir=Path(scratch)))
        try:
            text = table(decisions(create_app(services).openapi()))
        finally:
            services.close()
    if target is None:
        click.echo(text, nl=False)
        return
    begin, end = "<!-- table: begin -->", "<!-- table: end -->"
    page = target.read_text()
    head, _, rest = page.partition(begin)
    _, _, tail = rest.partition(end)
    target.write_text(f"{head}{begin}\n{text}{end}{tail}")
    click.echo(f"wrote the table into {target}", err=True)


@main.group()
def projections() -> None:
    """Read models built from the event store."""


@projections.command("status")
@data_dir_option
def projections_status(data_dir: Path | None) -> None:
    """Each projection's position against the head of the event store."""
    from service.bootstrap import build

    services = build(settings_for(data_dir))
    head = services.desk.recorder.max_notification_id() or 0
    positions = services.views.positions()
    click.echo(f"{'projection':<24} {'position':>10} {'behind':>10}")
    for name, position in sorted(positions.items()):
        click.echo(f"{name:<24} {position:>10} {head - position:>10}")
    services.close()


@projections.command("rebuild")
@data_dir_option
@click.argument("name")
@click.option(
    "--shadow",
    is_flag=True,
    help="build beside the live view while it keeps serving, then swap it in atomically",
)
def rebuild(data_dir: Path | None, name: str, shadow: bool) -> None:
    """Drop projection NAME and replay the whole event store into it (--shadow: rebuild it
    beside the live one and swap it in, so readers never see a half-built view)."""
    from cli.progress import shown
    from projections import BY_NAME
    from projections.runner import ProjectionRunner
    from projections.shadow import rebuild_in_shadow
    from service.bootstrap import build

    if name not in BY_NAME:
        raise click.BadParameter(f"choose one of {', '.join(sorted(BY_NAME))}", param_hint="NAME")
    projection = BY_NAME[name]
    settings = settings_for(data_dir)
    if shadow and settings.kafka_bootstrap:
        raise click.ClickException("--shadow rebuilds views fed from the store, not from Kafka")
    services = build(settings)
    started = time.perf_counter()
    try:
        with shown("positions") as bar:

            def progress(position: int, head: int) -> None:
                bar(name, position, head)

            if shadow:
                count = rebuild_in_shadow(
                    services.desk.recorder,
                    services.desk.mapper,
                    services.views,
                    projection,
                    progress,
                )
            else:
                services.views.reset(projection)
                runner = ProjectionRunner(
                    services.desk.recorder, services.desk.mapper, services.views, [projection]
                )
                count = runner.catch_up(progress)
                if settings.kafka_bootstrap:  # fed from the topic: the consumers go on after it
                    from service.kafka_mode import folded_from_store

                    folded_from_store(services.views, projection, settings.kafka_partitions)
    finally:
        services.close()
    elapsed = time.perf_counter() - started
    rate = count / elapsed if elapsed else 0.0
    how = " in a shadow view, swapped in" if shadow else ""
    click.echo(f"rebuilt {name}{how}: {count} events in {elapsed:.2f} s ({rate:,.0f} events/s)")


@main.command("seed")
@data_dir_option
def seed_catalogue(data_dir: Path | None) -> None:
    """Load the seed catalogue: the library's organisations, services, configuration items and
    standard change templates (docs/configuration-items.md). Running it again changes nothing."""
    from application.seed import seed
    from service.bootstrap import build

    services = build(settings_for(data_dir))
    try:
        created, skipped = seed(services.desk)
    finally:
        services.close()
    click.echo(f"seeded {created} records ({skipped} already there)")


@main.group()
def sla() -> None:
    """SLA clocks."""


@sla.command("watch")
@data_dir_option
@click.option("--interval", type=float, default=30.0, show_default=True, help="seconds per tick")
@click.option("--once", is_flag=True, help="one tick, then exit (e.g. from cron)")
def sla_watch(data_dir: Path | None, interval: float, once: bool) -> None:
    """Append SLA warnings and breaches to tickets as their moments pass (idempotent: any
    number of watchers, restarts and catch-ups write each alert once)."""
    from processes.sla_watch import SlaWatcher
    from service.bootstrap import build

    settings = settings_for(data_dir)
    log_to_stderr(settings.log_level)
    services = build(settings)
    services.start()
    watcher = SlaWatcher(services, interval)
    try:
        stop = stop_on_signals()
        while True:
            tick = watcher.tick()
            click.echo(
                f"watched {tick.watched}, judged {tick.judged}, recorded alerts on {tick.recorded}",
                err=True,
            )
            if once or stop.wait(interval):
                break
    finally:
        services.close()


from cli.attachments import attachments  # noqa: E402
from cli.audit import audit  # noqa: E402
from cli.backup import backup, restore  # noqa: E402
from cli.circulation import consume_circulation, dlq, simulate_circulation  # noqa: E402
from cli.console import console  # noqa: E402
from cli.directory import directory  # noqa: E402
from cli.documents import documents  # noqa: E402
from cli.imports import import_  # noqa: E402
from cli.kafka import kafka  # noqa: E402
from cli.mail_in import mail_in  # noqa: E402
from cli.notify import notify  # noqa: E402
from cli.reports import reports  # noqa: E402
from cli.whatif import whatif  # noqa: E402

main.add_command(attachments)
main.add_command(console)
main.add_command(audit)
main.add_command(backup)
main.add_command(restore)
main.add_command(kafka)
main.add_command(postgres)
consume.add_command(consume_circulation)
main.add_command(dlq)
main.add_command(import_)
main.add_command(directory)
main.add_command(documents)
main.add_command(notify)
main.add_command(mail_in)
main.add_command(whatif)
main.add_command(reports)


@main.group()
def simulate() -> None:
    """Simulated streams for demos, tests and benchmarks."""


simulate.add_command(simulate_circulation)


if __name__ == "__main__":
    main()
