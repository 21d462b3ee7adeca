"""`itsm console password`: setting a person's local sign-in password is on record (who set it,
when; never the password), recorded before the password is kept, and refused, with nothing
kept, for a person who may not sign in."""

from __future__ import annotations

from pathlib import Path
from uuid import uuid4

from click.testing import CliRunner

from application.kinds import PERSON
from application.pipeline import Submission
from cli.main import main
from domain.actors import Actor, Role
from domain.context import Context
from domain.directory import DeactivatePerson, RegisterPerson, person_id
from infra.console_store import open_console_store
from infra.settings import Settings
from service.bootstrap import build

PASSWORD = "kata-sandi-baru-9"


def registered(data_dir: Path, *people: str) -> None:
    services = build(Settings(data_dir=data_dir))
    try:
        ctx = Context(Actor(id="admin.dpk", role=Role.ADMIN), services.clock(), uuid4())
        for actor_id in people:
            register = RegisterPerson(actor_id=actor_id, name=actor_id.title(), roles=["agent"])
            services.desk.execute(Submission(ctx, register, PERSON))
        services.desk.execute(Submission(ctx, DeactivatePerson(), PERSON, ref=people[-1]))
    finally:
        services.close()


def history(data_dir: Path, actor_id: str) -> list[tuple[str, str, Role]]:
    """The person's events: type, who and in which role."""
    services = build(Settings(data_dir=data_dir))
    try:
        return [
            (e.type_name, e.actor.id, e.actor.role)
            for e in services.desk.events.get(person_id(actor_id))
        ]
    finally:
        services.close()


def kept_password(data_dir: Path, actor_id: str, password: str) -> bool:
    store = open_console_store(None, data_dir)
    try:
        return store.check_password(actor_id, password)
    finally:
        store.close()


def test_a_password_set_is_recorded_by_whom_and_never_itself(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    registered(data_dir, "siti.rahma", "eko.saputra")
    args = ["console", "password", "--data-dir", str(data_dir)]

    done = CliRunner().invoke(
        main, [*args, "--by", "admin.dpk", "siti.rahma"], input=f"{PASSWORD}\n{PASSWORD}\n"
    )
    assert done.exit_code == 0, done.output
    assert kept_password(data_dir, "siti.rahma", PASSWORD)
    assert history(data_dir, "siti.rahma")[-1] == ("Person.PasswordSet", "admin.dpk", Role.ADMIN)
    stored = b"".join(p.read_bytes() for p in data_dir.glob("events.db*"))
    assert PASSWORD.encode() not in stored  # the record says that, never what

    again = CliRunner().invoke(main, [*args, "siti.rahma"], input=f"{PASSWORD}\n{PASSWORD}\n")
    assert again.exit_code == 0, again.output
    (last_type, by, _) = history(data_dir, "siti.rahma")[-1]
    assert last_type == "Person.PasswordSet"
    assert by.startswith("cli:")  # whoever ran it, by their login name

    # a deactivated person may not sign in: refused, and nothing kept or recorded
    before = history(data_dir, "eko.saputra")
    refused = CliRunner().invoke(main, [*args, "eko.saputra"], input=f"{PASSWORD}\n{PASSWORD}\n")
    assert refused.exit_code != 0
    assert not kept_password(data_dir, "eko.saputra", PASSWORD)
    assert history(data_dir, "eko.saputra") == before
