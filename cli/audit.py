"""`itsm audit`: follow the store into the ledger, verify it, sign, export and check evidence."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click
import orjson

from audit.chain import Checkpoint
from audit.service import Audit, keyring
from cli.options import data_dir_option, existing_file, out_file, settings_for
from service.bootstrap import Services

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from audit.evidence import Reports
    from audit.signers import Signer
    from audit.witness import Witnessed

T = TypeVar("T")

_date = click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S%z"])


def _utc(moment: datetime | None) -> datetime | None:
    """A command-line time: with no zone given it is UTC (as the store's times are)."""
    from datetime import UTC

    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


@contextmanager
def _services(data_dir: Path | None) -> Iterator[Services]:
    """The service's stores, with no follower started (a command does its own work)."""
    from service.bootstrap import build

    services = build(settings_for(data_dir, audit_follow=False))
    try:
        yield services
    finally:
        services.close()


def _audit(services: Services) -> Audit:
    assert services.audit is not None
    return services.audit


@click.group()
def audit() -> None:
    """The tamper-evident audit ledger (docs/audit.md)."""


@audit.command()
@data_dir_option
def follow(data_dir: Path | None) -> None:
    """Append every stored event to the ledger and sign checkpoints, until stopped
    (run with ITSM_AUDIT_FOLLOW=false on the API processes)."""
    from cli.running import log_to_stderr, stop_on_signals

    with _services(data_dir) as services:
        log_to_stderr(services.settings.log_level)
        _audit(services).push_to_witnesses()
        _audit(services).ledger.run(stop_on_signals())


@audit.command("catch-up")
@data_dir_option
def catch_up(data_dir: Path | None) -> None:
    """Append what the ledger has not yet chained, with progress, then stop."""
    with _services(data_dir) as services:
        ledger = _audit(services).ledger
        head = ledger.store.store_head()
        started = time.perf_counter()
        with click.progressbar(
            length=head, label="chaining", show_pos=True, file=sys.stderr
        ) as bar:
            reached = ledger.store.head()[0]
            bar.update(reached)

            def progress(position: int, _head: int) -> None:
                nonlocal reached
                bar.update(min(position, head) - reached)
                reached = min(position, head)

            count = ledger.catch_up(progress)
        elapsed = time.perf_counter() - started
        click.echo(f"appended {count} entries in {elapsed:.2f} s", err=True)


@audit.command()
@data_dir_option
def checkpoint(data_dir: Path | None) -> None:
    """Catch the ledger up and sign its head now; prints the checkpoint as JSON."""
    with _services(data_dir) as services:
        signed = _audit(services).ledger.checkpoint_now()
        click.echo(orjson.dumps(signed.as_json() if signed else None).decode())


@audit.command("public-key")
@data_dir_option
def public_key(data_dir: Path | None) -> None:
    """Print the public key that verifies checkpoints (PEM), the configured one that an auditor
    holds (verify follows the rotations from it); its key id goes to stderr."""
    _show_key(keyring(settings_for(data_dir)).configured())


def _show_key(signer: Signer) -> None:
    from audit.keys import public_pem

    click.echo(public_pem(signer.public_key()).decode(), nl=False)
    click.echo(f"key id {signer.key_id}", err=True)


@audit.command("create-token-key")
@data_dir_option
def create_token_key(data_dir: Path | None) -> None:
    """Generate the signing key on the PKCS#11 token (ITSM_AUDIT_PKCS11_*), sensitive and not
    extractable, unless the token holds one with the label already; prints its public key."""
    from audit.signers import Pkcs11Keyring, SignerUnavailable

    signers = keyring(settings_for(data_dir))
    if not isinstance(signers, Pkcs11Keyring):
        raise click.UsageError("no PKCS#11 token is configured (ITSM_AUDIT_PKCS11_MODULE)")
    try:
        signer = signers.configured()
    except SignerUnavailable:
        signer = signers.create()
    finally:
        signers.close()
    _show_key(signer)


@audit.command("rotate-key")
@data_dir_option
@click.option(
    "--by", "admin", required=True, help="the admin rotating the key, as the record names them"
)
def rotate_key(data_dir: Path | None, admin: str) -> None:
    """Make a new signing key (on the token, or a PEM file under the data directory) and record
    the rotation; the ledger signs the rotation with the old key, then signs with the new one.
    Prints the new public key (PEM); its key id and the covering checkpoint go to stderr."""
    from uuid import uuid4

    from application.audit_keys import rotate_key as rotate
    from domain.actors import Actor, Role
    from domain.context import Context
    from domain.errors import DomainError

    with _services(data_dir) as services:
        ctx = Context(Actor(id=admin, role=Role.ADMIN), services.clock(), uuid4())
        try:
            new, covering = rotate(services.desk, _audit(services), ctx)
        except DomainError as error:
            raise click.ClickException(str(error)) from None
    _show_key(new)
    if covering is not None:
        click.echo(orjson.dumps(covering.as_json()).decode(), err=True)


@audit.command()
@data_dir_option
@click.argument("file", type=out_file)
def checkpoints(data_dir: Path | None, file: Path) -> None:
    """Write every signed checkpoint to FILE (NDJSON), for the auditor to keep."""
    with _services(data_dir) as services:
        held = _audit(services).store.checkpoints()
    file.write_bytes(b"".join(orjson.dumps(c.as_json()) + b"\n" for c in held))
    click.echo(f"wrote {len(held)} checkpoints to {file}", err=True)


def _load_checkpoints(files: tuple[Path, ...]) -> list[Checkpoint]:
    return [
        Checkpoint.from_json(orjson.loads(line))
        for file in files
        for line in file.read_bytes().splitlines()
        if line.strip()
    ]


def _load_keys(files: tuple[Path, ...]) -> tuple[Ed25519PublicKey, ...]:
    from audit.keys import load_public

    try:
        return tuple(load_public(f.read_bytes()) for f in files)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--public-key") from None


#: The most public keys a witness is given (`--public-key`, repeated).
MAX_PINNED_KEYS = 64


def _at_most(most: int) -> Callable[[click.Context, click.Parameter, tuple[T, ...]], tuple[T, ...]]:
    """A repeatable option's check: given at most `most` times."""

    def check(_ctx: click.Context, param: click.Parameter, given: tuple[T, ...]) -> tuple[T, ...]:
        if len(given) > most:
            raise click.BadParameter(f"at most {most} times", param=param)
        return given

    return check


key_option = click.option(
    "--public-key",
    "key_files",
    multiple=True,
    type=existing_file,
    help="a public key you hold (PEM); repeat for several [default: the service's own]",
)


checkpoints_option = click.option(
    "--checkpoints",
    "checkpoint_files",
    multiple=True,
    type=existing_file,
    help="checkpoints you hold (NDJSON from `itsm audit checkpoints`); repeatable",
)


witness_option = click.option(
    "--witness",
    "witnesses",
    multiple=True,
    help="a witness you keep: its directory or its URL (`itsm audit witness`); repeatable",
)


witness_ca_option = click.option(
    "--witness-ca",
    "witness_ca",
    type=existing_file,
    default=None,
    help="the CA (PEM) that signed your https:// witnesses' certificates [default: the"
    " system's CAs]",
)


@audit.command()
@click.option(
    "--dir",
    "directory",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="where the witness keeps its append-only log (yours, not the service host's)",
)
@click.option("--listen", default="127.0.0.1:8787", show_default=True, help="HOST:PORT")
@click.option(
    "--public-key",
    "key_files",
    multiple=True,
    type=existing_file,
    callback=_at_most(MAX_PINNED_KEYS),
    help="a public key of the service you trust (PEM, as `itsm audit public-key` prints it);"
    " repeat for several (a rotated key too): checkpoints signed with any other are refused"
    " [default: any key is accepted]",
)
@click.option(
    "--tls-cert",
    type=existing_file,
    default=None,
    help="serve HTTPS with this certificate (PEM, its chain after it); with --tls-key",
)
@click.option(
    "--tls-key", type=existing_file, default=None, help="the certificate's private key (PEM)"
)
def witness(
    directory: Path,
    listen: str,
    key_files: tuple[Path, ...],
    tls_cert: Path | None,
    tls_key: Path | None,
) -> None:
    """Run a witness of the signed checkpoints: it appends each one that extends the chain it
    holds to its log in DIR and refuses any other (docs/audit.md, "Witnesses")."""
    import logging

    from audit.witness import WitnessLog, server, server_context
    from cli.running import log_to_stderr

    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise click.BadParameter("give HOST:PORT", param_hint="--listen")
    if (tls_cert is None) != (tls_key is None):
        raise click.UsageError("give both --tls-cert and --tls-key, or neither")
    pinned = _load_keys(key_files)
    tls = None
    if tls_cert is not None and tls_key is not None:
        try:
            tls = server_context(tls_cert, tls_key)
        except OSError as error:  # ssl.SSLError is one: not a certificate, or not its key
            raise click.BadParameter(str(error), param_hint="--tls-cert/--tls-key") from None
    log_to_stderr("info")
    said = logging.getLogger("audit.witness")
    held = WitnessLog(directory, pinned)
    if not pinned:
        said.warning(
            "no --public-key given: this witness accepts a checkpoint signed with any key, so"
            " whoever can reach it can fork it with a key of their own"
        )
    elif unpinned := held.unpinned_held():
        said.warning(
            "the log holds checkpoints under key ids not given with --public-key: %s (an older"
            " key, or checkpoints taken before the keys were pinned)",
            ", ".join(unpinned),
        )
    if tls is None and host not in ("127.0.0.1", "localhost", "::1", "[::1]"):
        said.warning(
            "serving plain HTTP on %s: pushes can be read and altered on the way; give"
            " --tls-cert and --tls-key",
            host,
        )
    http = server(held, host, int(port), tls)
    scheme = "https" if tls else "http"
    click.echo(f"witness on {scheme}://{listen}, holding up to position {held.position}", err=True)
    try:
        http.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        http.server_close()


@audit.command()
@data_dir_option
@checkpoints_option
@witness_option
@witness_ca_option
@click.option(
    "--kafka",
    "bootstrap",
    default=None,
    help="also check the checkpoints published on Kafka (itsm.audit.checkpoints)",
)
@key_option
@click.option(
    "--seal-key",
    "seal_key_file",
    type=existing_file,
    default=None,
    help="the seal key file to check the events' seals with [the service's own, from the settings]",
)
@click.option(
    "--views",
    "check_views",
    is_flag=True,
    help="also rebuild every view from the events in a scratch store and compare it with the"
    " served one, naming the first differing row",
)
def verify(
    data_dir: Path | None,
    checkpoint_files: tuple[Path, ...],
    witnesses: tuple[str, ...],
    witness_ca: Path | None,
    bootstrap: str | None,
    key_files: tuple[Path, ...],
    seal_key_file: Path | None,
    check_views: bool,
) -> None:
    """Recompute the chain against the event store and the checkpoints, and check every event's
    seal (the tail not yet chained too); exit 1 if it fails,
    naming the first bad position and why (with --views, the first differing row of each view
    that does not match its rebuild; with --witness, the first position where the ledger
    differs from what a witness holds)."""
    from audit.publish import read_published
    from audit.seals import load_key
    from audit.verify import verify as run
    from audit.witness import compare, with_witness

    with _services(data_dir) as services:
        audit_ = _audit(services)
        outside = _load_checkpoints(checkpoint_files)
        _say_if_unused(witness_ca, witnesses)
        witnessed = [_read_witness(source, witness_ca) for source in witnesses]
        for held in witnessed:
            outside += held.checkpoints
        if bootstrap:
            outside += read_published(bootstrap, services.settings.kafka_audit_topic)
        head = audit_.store.head()[0]
        started = time.perf_counter()
        with click.progressbar(
            length=head, label="verifying", show_pos=True, file=sys.stderr
        ) as bar:
            done = 0

            def progress(position: int, _head: int) -> None:
                nonlocal done
                bar.update(position - done)
                done = position

            report = run(
                audit_.store,
                audit_.trusted_keys(_load_keys(key_files)),
                outside,
                progress=progress,
                seal=load_key(seal_key_file) if seal_key_file else audit_.ledger.seal,
            )
        for held in witnessed:
            report = with_witness(report, held, compare(audit_.store, held))
        elapsed = time.perf_counter() - started
        answer, ok = report.as_json(), report.ok
        if check_views:
            views = audit_.audit_views(services.desk.recorder)
            answer["views"], ok = views.as_json(), ok and views.ok
            answer["ok"] = ok
    click.echo(orjson.dumps(answer, option=orjson.OPT_INDENT_2).decode())
    rate = report.entries / elapsed if elapsed else 0.0
    click.echo(f"{report.entries} entries in {elapsed:.2f} s ({rate:,.0f}/s)", err=True)
    if not ok:
        sys.exit(1)


@audit.command()
@data_dir_option
@click.option("--from", "since", type=_date, default=None, help="period start (UTC), inclusive")
@click.option("--to", "until", type=_date, default=None, help="period end (UTC), exclusive")
@click.option(
    "--with-attachments",
    is_flag=True,
    help="put the bytes of the period's attachments in the pack (their hashes are always there)",
)
@click.option("--sample-seed", type=int, default=None, help="hold whole the records it draws")
@click.option("--sample-type", default="Incident", show_default=True)
@click.option("--sample-n", type=int, default=10, show_default=True)
@click.option("--sample-closed", is_flag=True, help="the sample draws from records closed")
@click.argument("file", type=out_file)
def export(
    data_dir: Path | None,
    since: datetime | None,
    until: datetime | None,
    with_attachments: bool,
    sample_seed: int | None,
    sample_type: str,
    sample_n: int,
    sample_closed: bool,
    file: Path,
) -> None:
    """Write an evidence pack (zip) for the period to FILE; with --sample-seed, with the whole
    history of each record that sample of the period draws (as `itsm audit sample` draws it)."""
    from uuid import UUID

    from audit.evidence import Sample, export_pack
    from audit.evidence import sample as draw
    from infra.clock import utcnow

    with _services(data_dir) as services:
        audit_ = _audit(services)
        audit_.ledger.catch_up()
        records: list[UUID] = []
        if sample_seed is not None:
            wanted = Sample(
                sample_type, sample_n, sample_seed, _utc(since), _utc(until), sample_closed
            )
            records = [UUID(r["id"]) for r in draw(audit_.store, services.desk.mapper, wanted)]
        started = time.perf_counter()
        with click.progressbar(
            length=audit_.store.store_head(), label="exporting", file=sys.stderr
        ) as bar:
            summary = export_pack(
                file,
                audit_.store,
                services.desk.mapper,
                audit_.key,
                _utc(since),
                _utc(until),
                utcnow(),
                reports=_reports(services),
                progress=lambda n: bar.update(n - bar.pos),
                views=lambda: audit_.audit_views(services.desk.recorder),
                attachments=services.blobs.get if with_attachments else None,
                records=records,
            )
        elapsed = time.perf_counter() - started
    click.echo(
        f"wrote {file}: {summary.events} events, {summary.ledger_entries} ledger entries,"
        f" {summary.checkpoints} checkpoints in {elapsed:.2f} s",
        err=True,
    )


def _reports(services: Services) -> Reports:
    from audit.reports import period_reports

    kept = services.audit
    assert kept is not None
    return lambda since, until: period_reports(kept.store, services.desk, since, until)


@audit.command("verify-pack")
@click.argument("file", type=existing_file)
@key_option
@checkpoints_option
@witness_option
@witness_ca_option
def verify_pack(
    file: Path,
    key_files: tuple[Path, ...],
    checkpoint_files: tuple[Path, ...],
    witnesses: tuple[str, ...],
    witness_ca: Path | None,
) -> None:
    """Check an evidence pack offline (no server, no database); exit 1 if it fails. Pass the
    public key you hold: without it the pack is checked only against the key it carries."""
    from audit.evidence import verify_pack as check

    _say_if_unused(witness_ca, witnesses)
    held = _held(checkpoint_files, witnesses, witness_ca)
    report = check(file, _load_keys(key_files), held)
    click.echo(orjson.dumps(report.as_json(), option=orjson.OPT_INDENT_2).decode())
    if not key_files:
        click.echo(
            "warning: checked only against the key the pack carries; pass --public-key", err=True
        )
    if not report.ok:
        sys.exit(1)


def _held(
    checkpoint_files: tuple[Path, ...],
    witnesses: tuple[str, ...] = (),
    witness_ca: Path | None = None,
) -> list[Checkpoint]:
    """The signed checkpoints the auditor holds, from wherever they keep them: their files of
    checkpoints and their witnesses' logs."""
    held = _load_checkpoints(checkpoint_files)
    for source in witnesses:
        held += _read_witness(source, witness_ca).checkpoints
    return held


def _say_if_unused(witness_ca: Path | None, witnesses: tuple[str, ...]) -> None:
    """A warning when --witness-ca has no https:// witness to apply to."""
    if witness_ca is not None and not any(w.startswith("https://") for w in witnesses):
        click.echo("warning: --witness-ca applies only to https:// witnesses; none given", err=True)


def _read_witness(source: str, witness_ca: Path | None = None) -> Witnessed:
    """A witness's log (its directory or URL), or a usage error saying why it cannot be read
    (an https:// witness whose certificate does not verify with the CAs trusted, too)."""
    from audit.witness import read_witness

    try:
        return read_witness(source, ca_file=witness_ca)
    except (OSError, ValueError) as error:
        raise click.BadParameter(f"{source}: {error}", param_hint="--witness") from None


@audit.command()
@data_dir_option
@click.option("--type", "record_type", default="Incident", show_default=True)
@click.option("-n", "count", type=int, default=10, show_default=True)
@click.option("--seed", type=int, required=True, help="the same seed draws the same records")
@click.option("--from", "since", type=_date, default=None)
@click.option("--to", "until", type=_date, default=None)
@click.option("--closed", is_flag=True, help="from the records closed in the period")
def sample(
    data_dir: Path | None,
    record_type: str,
    count: int,
    seed: int,
    since: datetime | None,
    until: datetime | None,
    closed: bool,
) -> None:
    """Draw COUNT records of a type created (or closed) in a period, at random but
    reproducibly (NDJSON)."""
    from audit.evidence import Sample
    from audit.evidence import sample as draw

    wanted = Sample(record_type, count, seed, _utc(since), _utc(until), closed)
    with _services(data_dir) as services:
        drawn = draw(_audit(services).store, services.desk.mapper, wanted)
    for record in drawn:
        click.echo(orjson.dumps(record).decode())
