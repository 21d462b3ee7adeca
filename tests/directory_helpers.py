"""The directory the tests' work is assigned within: work goes only to groups and people the
directory holds (domain/directory.py `assignable`), so a test that assigns, escalates or defines
a catalogue item first registers whom it names (`hold`, or the `directory` fixture for the usual
cast in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from uuid import UUID, uuid4

from application.kinds import GROUP, PERSON
from application.pipeline import Submission
from domain.actors import Actor, Role
from domain.context import Context
from domain.directory import FormGroup, RegisterPerson, group_id, person_id
from domain.errors import RecordAlreadyExists
from service.bootstrap import Services

KEEPER = Actor(id="directory.keeper", role=Role.ADMIN)

#: The agents the tests name, each a member of every usual group.
AGENTS = ("siti.rahma", "andi.wijaya", "andi", "agus", "rudi.hartono")
#: The managers and others the tests escalate to or name as a major incident's manager.
MANAGERS = ("dewi.lestari", "dewi", "kepala", "kepala.upt")
#: The groups the tests assign to, escalate to and fulfil requests in.
GROUPS = (
    "kiosk-team",
    "kiosk",
    "network-team",
    "network",
    "service-desk",
    "servicedesk-l1",
    "desk",
    "front-desk",
    "tim-inlislite",
    "tim-gate",
    "layanan-keanggotaan",
    "layanan-sirkulasi",
    "circulation-team",
    "slims-team",
    "library-ict",
    "g",
)
#: The usual cast: every group with every agent as a member.
USUAL: Mapping[str, Iterable[str]] = dict.fromkeys(GROUPS, AGENTS)


def hold(
    services: Services,
    groups: Mapping[str, Iterable[str]] = USUAL,
    people: Iterable[str] = MANAGERS,
) -> None:
    """Register the groups' members and `people` (named after their actor ids) and form the
    groups, in one write; whoever and whatever the directory holds already is left as it is."""
    members = {m for group_members in groups.values() for m in group_members}
    ctx = Context(actor=KEEPER, at=services.clock(), correlation_id=uuid4())
    submissions = [
        Submission(ctx, RegisterPerson(actor_id=actor_id, name=_name(actor_id)), PERSON)
        for actor_id in sorted(members | set(people))
    ] + [
        Submission(ctx, FormGroup(code=code, name=code, members=sorted(set(in_it))), GROUP)
        for code, in_it in groups.items()
    ]
    for result in services.desk.execute_batch(submissions):
        if isinstance(result, Exception) and not isinstance(result, RecordAlreadyExists):
            raise result
    services.desk.wake_followers()


def usual_ids() -> set[UUID]:
    """The ids of the usual cast's records (to tell them from a test's own in the store)."""
    return {person_id(p) for p in (*AGENTS, *MANAGERS)} | {group_id(g) for g in GROUPS}


def _name(actor_id: str) -> str:
    return actor_id.replace(".", " ").title()
