"""The directory: the people the service tells things, the groups work is assigned to, and the
broadcast lists a major incident is announced to (ISO/IEC 20000-1 8.6.1: users are kept informed;
7.2: who is responsible is named).

A person is known by their actor id, the id every event records them by (`siti.rahma`); a group
and a broadcast list by a code (`tim-kiosk`, `major-incident`). Each id derives from its name
(`named_id`), so registering one twice collides in the store and finding one is one read.

    Person: registered -> (renamed | contact changed | language chosen | organisation changed |
            roles changed | mutes chosen)* ; active <-> deactivated
    Group:  formed -> (member added | member removed | manager appointed | hours set |
            on-call rota set | renamed)* -> disbanded
    BroadcastList: created -> (member added | member removed)*

Every member, manager and on-call person is a registered person: a command naming one that is not
is refused, as is assigning work to a group or person the directory does not hold, to a disbanded
group or a deactivated person, or to an agent outside the group named with them (`assignable`,
which every command that assigns asks, whatever its entry point). A deactivated person stays in
the record (their events still name them) but is told nothing and can be assigned nothing.

Everything the directory is, its commands included, is this module; the application reaches it
through its registry of kinds (application/kinds.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from itertools import pairwise
from typing import Annotated, Any, ClassVar, Self
from uuid import UUID

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from domain.actors import Role
from domain.aggregate import Aggregate, applies
from domain.calendar import BusinessCalendar, calendar_id
from domain.command_base import ActionCommand, Command, by_action
from domain.context import Context
from domain.errors import (
    CalendarNotFound,
    DomainError,
    IllegalTransition,
    NothingChanged,
    PersonAlreadyErased,
    RecordAlreadyExists,
    RecordNotFound,
)
from domain.events import SHREDDED, DomainEvent
from domain.examples import example
from domain.fields import Name, OptionalReason, Reason
from domain.legal_hold import check_person_not_held
from domain.notification_rules import check_mutes
from domain.organisations import KNOWN_ORGANISATION_PATTERN, PROVINCE
from domain.record_numbers import named_id
from domain.session import Session
from domain.text import ACTOR_ID_PATTERN

#: The code of a group or broadcast list: lower-case letters, digits and '-'.
CODE_PATTERN = r"^[a-z0-9][a-z0-9-]{0,79}$"
Code = Field(pattern=CODE_PATTERN, min_length=1, max_length=80)
ActorId = Annotated[str, Field(min_length=1, max_length=200, pattern=ACTOR_ID_PATTERN)]
#: An e-mail address as people write it; kept in lower case, so that one address is one person.
EMAIL_PATTERN = r"^[^@\s<>(),;:\"\[\]]+@[^@\s<>(),;:\"\[\]]+\.[^@\s<>(),;:\"\[\]]+$"
Email = Annotated[
    str,
    Field(min_length=3, max_length=254, pattern=EMAIL_PATTERN, examples=["siti@dpk.example"]),
    AfterValidator(str.lower),
]
#: A phone number as dialled from Indonesia or abroad ("+62 812-3456-7890").
Phone = Annotated[str, Field(min_length=6, max_length=24, pattern=r"^\+?[0-9][0-9 ()-]{5,22}$")]
Organisation = Annotated[
    str, Field(min_length=1, max_length=64, pattern=KNOWN_ORGANISATION_PATTERN)
]
#: A notification topic a person chooses not to hear (domain/notification_rules.py names them).
Topic = Annotated[str, Field(min_length=1, max_length=60, pattern=r"^[a-z][a-z0-9_.-]*$")]
#: At most this many members in one group or list, shifts in one rota, topics muted.
MAX_MEMBERS = 500


class Language(StrEnum):
    """The language a person is written to in: Bahasa Indonesia unless they choose English."""

    ID = "id"
    EN = "en"


def person_id(actor_id: str) -> UUID:
    return named_id("person", actor_id)


def group_id(code: str) -> UUID:
    return named_id("group", code)


def broadcast_list_id(code: str) -> UUID:
    return named_id("broadcast-list", code)


def _distinct_sorted(values: list[str]) -> list[str]:
    """Members and topics without repeats, sorted: equal sets are equal lists."""
    return sorted(set(values))


Members = Annotated[list[ActorId], Field(max_length=MAX_MEMBERS), AfterValidator(_distinct_sorted)]
Topics = Annotated[list[Topic], Field(max_length=60), AfterValidator(_distinct_sorted)]
#: What a person asks to mute: topics that exist and that the standard lets them mute.
MutableTopics = Annotated[Topics, AfterValidator(check_mutes)]
Roles = Annotated[list[Role], Field(max_length=len(Role)), AfterValidator(_distinct_sorted)]


class Shift(BaseModel):
    """One person on call for a group from `starts` until `ends`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    person: ActorId
    starts: AwareDatetime
    ends: AwareDatetime

    @model_validator(mode="after")
    def _ends_after_it_starts(self) -> Self:
        if self.ends <= self.starts:
            raise ValueError("a shift ends after it starts")
        return self


def _rota_checked(shifts: list[Shift]) -> list[Shift]:
    """Shifts in time order, none overlapping another: at any moment one person is on call."""
    ordered = sorted(shifts, key=lambda s: s.starts)
    for before, after in pairwise(ordered):
        if after.starts < before.ends:
            raise ValueError(
                f"the shifts of {before.person} and {after.person} overlap at"
                f" {after.starts.isoformat()}"
            )
    return ordered


Rota = Annotated[list[Shift], Field(max_length=MAX_MEMBERS), AfterValidator(_rota_checked)]


class PersonNotFound(RecordNotFound):
    code = "person-not-found"


class GroupNotFound(RecordNotFound):
    code = "group-not-found"


class UnknownPerson(PersonNotFound):
    """A command names a person the directory does not hold (a member, a manager, an assignee):
    the command is invalid (422), unlike a missing record its path names (404)."""


class UnknownGroup(GroupNotFound):
    """A command names a group the directory does not hold (422, as UnknownPerson)."""


class BroadcastListNotFound(RecordNotFound):
    code = "broadcast-list-not-found"


class NotAGroupMember(DomainError):
    """Work assigned to a group and an agent: the agent must be one of the group's members."""

    code = "not-a-group-member"


class PersonInactive(IllegalTransition):
    code = "person-inactive"

    def __init__(self, actor_id: str, action: str) -> None:
        super().__init__(action, "deactivated", "person")
        self.detail = f"{actor_id} is deactivated: cannot {action.replace('_', ' ')}"
        self.args = (self.detail,)


# -- people ---------------------------------------------------------------------------------------


class PersonEvent(DomainEvent):
    """A fact in a person's entry in the directory."""

    @classmethod
    def data_subject(cls, fields: Mapping[str, Any]) -> UUID | None:
        return UUID(str(fields["originator_id"]))  # what an entry says of a person is theirs


class PersonRegistered(PersonEvent):
    type_name: ClassVar[str] = "Person.Registered"
    personal: ClassVar[tuple[str, ...]] = ("name", "email", "phone")
    actor_id: ActorId
    name: str = Name
    email: Email | None = None
    phone: Phone | None = None
    language: Language = Language.ID
    organisation: Organisation = PROVINCE
    #: The roles single sign-on last gave them (or an admin recorded); none: unknown.
    roles: Roles = Field(default_factory=list)
    #: Where the entry came from: an admin, a CSV import, single sign-on, the seed.
    source: str = Field(default="admin", pattern=r"^(admin|import|sso|seed)$")


class PersonRenamed(PersonEvent):
    type_name: ClassVar[str] = "Person.Renamed"
    personal: ClassVar[tuple[str, ...]] = ("name",)
    name: str = Name


class ContactChanged(PersonEvent):
    type_name: ClassVar[str] = "Person.ContactChanged"
    personal: ClassVar[tuple[str, ...]] = ("email", "phone")
    email: Email | None = None
    phone: Phone | None = None


class LanguageChosen(PersonEvent):
    type_name: ClassVar[str] = "Person.LanguageChosen"
    language: Language


class OrganisationChanged(PersonEvent):
    type_name: ClassVar[str] = "Person.OrganisationChanged"
    organisation: Organisation


class RolesChanged(PersonEvent):
    type_name: ClassVar[str] = "Person.RolesChanged"
    roles: Roles


class MutesChosen(PersonEvent):
    """The optional notifications a person chose not to receive (all they mute, after it)."""

    type_name: ClassVar[str] = "Person.MutesChosen"
    topics: Topics


class PersonDeactivated(PersonEvent):
    type_name: ClassVar[str] = "Person.Deactivated"
    reason: str | None = OptionalReason


class PersonReactivated(PersonEvent):
    type_name: ClassVar[str] = "Person.Reactivated"


class PasswordSet(PersonEvent):
    """A local sign-in password was set for the person (the console's, docs/console.md): who set
    it and when. Neither the password nor its digest is in the record: the digest lives in the
    console's store, replaced when a new one is set."""

    type_name: ClassVar[str] = "Person.PasswordSet"


class PersonErased(PersonEvent):
    """The person's own data erased: the key their name, contact details and the messages sent
    to them were sealed under is destroyed (docs/privacy.md). Their actor id stays, as the
    pseudonym their records name them by."""

    type_name: ClassVar[str] = "Person.Erased"
    reason: str = Reason


#: The fields `Person.update` may change, and the event that records each change.
_PERSON_FIELDS = ("name", "email", "phone", "language", "organisation", "roles")


class Person(Aggregate, events=PersonEvent):
    KIND: ClassVar[str] = "person"

    actor_id: str
    name: str
    email: str | None
    phone: str | None
    language: Language
    organisation: str
    roles: tuple[Role, ...]
    muted: tuple[str, ...]
    active: bool
    erased: bool = False

    @property
    def owned_by(self) -> str | None:
        """A person's own entry is theirs: a requester reaches it (to read it, choose their
        language and what they mute), and no one else's."""
        return self.actor_id

    @classmethod
    def register(
        cls,
        ctx: Context,
        *,
        actor_id: str,
        name: str,
        email: str | None = None,
        phone: str | None = None,
        language: Language = Language.ID,
        organisation: str = PROVINCE,
        roles: list[Role] | None = None,
        source: str = "admin",
    ) -> Person:
        return cls._begin(
            ctx,
            person_id(actor_id),
            PersonRegistered,
            actor_id=actor_id,
            name=name,
            email=email,
            phone=phone,
            language=language,
            organisation=organisation,
            roles=roles or [],
            source=source,
        )

    def update(self, ctx: Context, **changes: Any) -> None:
        """Record what differs of the given fields (absent or None: left as it is; an e-mail or
        phone of "" removes it), one event per kind of change. NothingChanged if none differs."""
        unknown = set(changes) - set(_PERSON_FIELDS)
        if unknown:
            raise TypeError(f"a person has no field {sorted(unknown)}")
        self._require_kept("update")
        recorded = self.version
        if (name := changes.get("name")) is not None and name != self.name:
            self._record(PersonRenamed(**self._envelope(ctx), name=name))
        email = self._contact(changes.get("email"), self.email)
        phone = self._contact(changes.get("phone"), self.phone)
        if (email, phone) != (self.email, self.phone):
            self._record(ContactChanged(**self._envelope(ctx), email=email, phone=phone))
        if (language := changes.get("language")) is not None and language != self.language:
            self._record(LanguageChosen(**self._envelope(ctx), language=language))
        organisation = changes.get("organisation")
        if organisation is not None and organisation != self.organisation:
            self._record(OrganisationChanged(**self._envelope(ctx), organisation=organisation))
        roles = changes.get("roles")
        if roles is not None and tuple(_distinct_sorted(roles)) != self.roles:
            self._record(RolesChanged(**self._envelope(ctx), roles=roles))
        if self.version == recorded:
            raise NothingChanged(f"{self.actor_id}'s entry already says so")

    def choose_mutes(self, ctx: Context, topics: list[str]) -> None:
        self._require_kept("choose_mutes")
        if tuple(_distinct_sorted(topics)) == self.muted:
            raise NothingChanged(f"{self.actor_id} already mutes exactly these")
        self._record(MutesChosen(**self._envelope(ctx), topics=topics))

    def record_password_set(self, ctx: Context) -> None:
        """A sign-in password set for an active, kept person (the digest is stored apart)."""
        self._require_kept("set_password")
        self.require_active("set_password")
        self._record(PasswordSet(**self._envelope(ctx)))

    def deactivate(self, ctx: Context, reason: str | None = None) -> None:
        if not self.active:
            raise NothingChanged(f"{self.actor_id} is already deactivated")
        self._record(PersonDeactivated(**self._envelope(ctx), reason=reason))

    def reactivate(self, ctx: Context) -> None:
        self._require_kept("reactivate")
        if self.active:
            raise NothingChanged(f"{self.actor_id} is already active")
        self._record(PersonReactivated(**self._envelope(ctx)))

    def erase(self, ctx: Context, reason: str) -> None:
        """Erase what the directory holds of the person (the key goes once this is recorded)."""
        if self.erased:
            raise PersonAlreadyErased(f"{self.actor_id}'s data is already erased")
        self._record(PersonErased(**self._envelope(ctx), reason=reason))

    def _require_kept(self, action: str) -> None:
        if self.erased:
            raise IllegalTransition(action, "erased", "person")

    def require_active(self, action: str) -> None:
        if not self.active:
            raise PersonInactive(self.actor_id, action)

    @staticmethod
    def _contact(given: str | None, current: str | None) -> str | None:
        if given is None:
            return current
        return given or None  # "" removes it

    @applies(PersonRegistered)
    def _registered(self, e: PersonRegistered) -> None:
        self.actor_id = e.actor_id
        self.name = e.name
        self.email = e.email
        self.phone = e.phone
        self.language = e.language
        self.organisation = e.organisation
        self.roles = tuple(e.roles)
        self.muted = ()
        self.active = True
        self.erased = False

    @applies(PersonRenamed)
    def _renamed(self, e: PersonRenamed) -> None:
        self.name = e.name

    @applies(ContactChanged)
    def _contact_changed(self, e: ContactChanged) -> None:
        self.email = e.email
        self.phone = e.phone

    @applies(LanguageChosen)
    def _language_chosen(self, e: LanguageChosen) -> None:
        self.language = e.language

    @applies(OrganisationChanged)
    def _organisation_changed(self, e: OrganisationChanged) -> None:
        self.organisation = e.organisation

    @applies(RolesChanged)
    def _roles_changed(self, e: RolesChanged) -> None:
        self.roles = tuple(e.roles)

    @applies(MutesChosen)
    def _mutes_chosen(self, e: MutesChosen) -> None:
        self.muted = tuple(e.topics)

    @applies(PersonDeactivated)
    def _deactivated(self, e: PersonDeactivated) -> None:
        self.active = False

    @applies(PersonReactivated)
    def _reactivated(self, e: PersonReactivated) -> None:
        self.active = True

    @applies(PasswordSet)
    def _password_set(self, e: PasswordSet) -> None:
        """The entry itself does not change: the fact is the record."""

    @applies(PersonErased)
    def _erased(self, e: PersonErased) -> None:
        self.name, self.email, self.phone = SHREDDED, None, None
        self.active, self.erased = False, True


# -- groups and broadcast lists -------------------------------------------------------------------


class GroupEvent(DomainEvent):
    """A fact in a resolver group's entry in the directory."""


class GroupFormed(GroupEvent):
    type_name: ClassVar[str] = "Group.Formed"
    code: str = Code
    name: str = Name
    organisation: Organisation = PROVINCE
    manager: ActorId | None = None
    members: Members = Field(default_factory=list)
    #: The business calendar whose hours are the group's working hours (docs/sla.md); None:
    #: the group works around the clock.
    hours: str | None = Field(default=None, min_length=1, max_length=80, pattern=CODE_PATTERN)


class GroupRenamed(GroupEvent):
    type_name: ClassVar[str] = "Group.Renamed"
    name: str = Name


class MemberAdded(DomainEvent):
    """A person joins a group or a broadcast list."""

    member: ActorId


class MemberRemoved(DomainEvent):
    member: ActorId


class GroupMemberAdded(MemberAdded, GroupEvent):
    type_name: ClassVar[str] = "Group.MemberAdded"


class GroupMemberRemoved(MemberRemoved, GroupEvent):
    type_name: ClassVar[str] = "Group.MemberRemoved"


class ManagerAppointed(GroupEvent):
    type_name: ClassVar[str] = "Group.ManagerAppointed"
    manager: ActorId


class HoursSet(GroupEvent):
    type_name: ClassVar[str] = "Group.HoursSet"
    hours: str | None = Field(default=None, min_length=1, max_length=80, pattern=CODE_PATTERN)


class OnCallRotaSet(GroupEvent):
    """The group's on-call rota from now on (all of it: the shifts it names replace any before)."""

    type_name: ClassVar[str] = "Group.OnCallRotaSet"
    shifts: Rota


class GroupDisbanded(GroupEvent):
    type_name: ClassVar[str] = "Group.Disbanded"
    reason: str | None = OptionalReason


class Membership(Aggregate):
    """What a group and a broadcast list share: a set of people who join and leave."""

    code: str
    members: frozenset[str]
    _added: ClassVar[type[MemberAdded]]
    _removed: ClassVar[type[MemberRemoved]]

    def add_member(self, ctx: Context, member: Person) -> None:
        member.require_active("join")
        if member.actor_id in self.members:
            raise NothingChanged(f"{member.actor_id} is already a member of {self.code}")
        self._record(self._added(**self._envelope(ctx), member=member.actor_id))

    def remove_member(self, ctx: Context, member: str) -> None:
        if member not in self.members:
            raise NothingChanged(f"{member} is not a member of {self.code}")
        self._record(self._removed(**self._envelope(ctx), member=member))

    def _member_added(self, e: MemberAdded) -> None:
        self.members = self.members | {e.member}

    def _member_removed(self, e: MemberRemoved) -> None:
        self.members = self.members - {e.member}


class Group(Membership, events=GroupEvent):
    KIND: ClassVar[str] = "group"
    _added = GroupMemberAdded
    _removed = GroupMemberRemoved

    manager: str | None
    disbanded: bool

    @classmethod
    def form(
        cls,
        ctx: Context,
        *,
        code: str,
        name: str,
        organisation: str = PROVINCE,
        manager: Person | None = None,
        members: list[Person] | None = None,
        hours: str | None = None,
    ) -> Group:
        for person in [*(members or []), *([manager] if manager else [])]:
            person.require_active("join")
        return cls._begin(
            ctx,
            group_id(code),
            GroupFormed,
            code=code,
            name=name,
            organisation=organisation,
            manager=manager.actor_id if manager else None,
            members=[p.actor_id for p in members or []],
            hours=hours,
        )

    def rename(self, ctx: Context, name: str) -> None:
        self._open("rename")
        self._record(GroupRenamed(**self._envelope(ctx), name=name))

    def add_member(self, ctx: Context, member: Person) -> None:
        self._open("add_member")
        super().add_member(ctx, member)

    def appoint_manager(self, ctx: Context, manager: Person) -> None:
        self._open("appoint_manager")
        manager.require_active("manage a group")
        if manager.actor_id == self.manager:
            raise NothingChanged(f"{manager.actor_id} already manages {self.code}")
        self._record(ManagerAppointed(**self._envelope(ctx), manager=manager.actor_id))

    def set_hours(self, ctx: Context, hours: str | None) -> None:
        self._open("set_hours")
        self._record(HoursSet(**self._envelope(ctx), hours=hours))

    def set_on_call_rota(self, ctx: Context, shifts: list[Shift], people: list[Person]) -> None:
        """`people`: the people the shifts name, each of whom must be active."""
        self._open("set_on_call_rota")
        for person in people:
            person.require_active("be on call")
        self._record(OnCallRotaSet(**self._envelope(ctx), shifts=shifts))

    def disband(self, ctx: Context, reason: str | None = None) -> None:
        self._open("disband")
        self._record(GroupDisbanded(**self._envelope(ctx), reason=reason))

    def require_open(self, action: str) -> None:
        """Refuse work for a disbanded group (it stays in the record, for what it did)."""
        self._open(action)

    def _open(self, action: str) -> None:
        if self.disbanded:
            raise IllegalTransition(action, "disbanded", f"group {self.code}")

    @applies(GroupFormed)
    def _formed(self, e: GroupFormed) -> None:
        self.code = e.code
        self.members = frozenset(e.members)
        self.manager = e.manager
        self.disbanded = False

    @applies(GroupMemberAdded)
    def _joined(self, e: GroupMemberAdded) -> None:
        self._member_added(e)

    @applies(GroupMemberRemoved)
    def _left(self, e: GroupMemberRemoved) -> None:
        self._member_removed(e)

    @applies(ManagerAppointed)
    def _manager_appointed(self, e: ManagerAppointed) -> None:
        self.manager = e.manager

    @applies(GroupRenamed, HoursSet, OnCallRotaSet)
    def _described(self, e: GroupEvent) -> None:
        pass  # names, hours and rotas are the views' and the notifier's, not the decisions'

    @applies(GroupDisbanded)
    def _disbanded(self, e: GroupDisbanded) -> None:
        self.disbanded = True


class BroadcastListEvent(DomainEvent):
    """A fact in a broadcast list's entry (the people told of a major incident)."""


class BroadcastListCreated(BroadcastListEvent):
    type_name: ClassVar[str] = "BroadcastList.Created"
    code: str = Code
    name: str = Name
    members: Members = Field(default_factory=list)


class ListMemberAdded(MemberAdded, BroadcastListEvent):
    type_name: ClassVar[str] = "BroadcastList.MemberAdded"


class ListMemberRemoved(MemberRemoved, BroadcastListEvent):
    type_name: ClassVar[str] = "BroadcastList.MemberRemoved"


#: The broadcast list a major incident is announced to (seeded; docs/notifications.md).
MAJOR_INCIDENT_LIST = "major-incident"
#: The group whose members sit on the change advisory board, told of the changes it assesses
#: (seeded; docs/directory.md).
CAB_GROUP = "cab"


class BroadcastList(Membership, events=BroadcastListEvent):
    KIND: ClassVar[str] = "broadcast list"
    _added = ListMemberAdded
    _removed = ListMemberRemoved

    @classmethod
    def create(
        cls, ctx: Context, *, code: str, name: str, members: list[Person] | None = None
    ) -> BroadcastList:
        for person in members or []:
            person.require_active("join")
        return cls._begin(
            ctx,
            broadcast_list_id(code),
            BroadcastListCreated,
            code=code,
            name=name,
            members=[p.actor_id for p in members or []],
        )

    @applies(BroadcastListCreated)
    def _created(self, e: BroadcastListCreated) -> None:
        self.code = e.code
        self.members = frozenset(e.members)

    @applies(ListMemberAdded)
    def _joined(self, e: ListMemberAdded) -> None:
        self._member_added(e)

    @applies(ListMemberRemoved)
    def _left(self, e: ListMemberRemoved) -> None:
        self._member_removed(e)


# -- what a command may look up --------------------------------------------------------------


def person(session: Session, actor_id: str) -> Person:
    """The person of that actor id, or PersonNotFound (whoever asks: the directory is shared).
    It is an UnknownPerson, a command naming someone who is not there; the pipeline answers it
    as the missing record when the command's own path names that person."""
    found = session.find(Person, person_id(actor_id))
    if found is None:
        raise UnknownPerson(f"no person {actor_id} in the directory", person_id(actor_id))
    return found


def people(session: Session, actor_ids: list[str]) -> list[Person]:
    return [person(session, actor_id) for actor_id in actor_ids]


def group(session: Session, code: str) -> Group:
    """The group of that code, or GroupNotFound."""
    found = session.find(Group, group_id(code))
    if found is None:
        raise UnknownGroup(f"no group {code} in the directory", group_id(code))
    return found


def broadcast_list(session: Session, code: str) -> BroadcastList:
    found = session.find(BroadcastList, broadcast_list_id(code))
    if found is None:
        raise BroadcastListNotFound(f"no broadcast list {code}", broadcast_list_id(code))
    return found


def assignable(session: Session, group_code: str, agent: str | None, action: str) -> None:
    """Refuse work for a group or agent the directory does not hold (UnknownGroup,
    UnknownPerson), a disbanded group (IllegalTransition), a deactivated agent (PersonInactive),
    or an agent who is not a member of the group (NotAGroupMember)."""
    found = group(session, group_code)
    found.require_open(action)
    if agent is not None:
        assignee = person(session, agent)
        assignee.require_active(action)
        if agent not in found.members:
            raise NotAGroupMember(
                f"{agent} is not a member of {group_code}: add them to the group first, or"
                " assign to the group alone"
            )


def responsible(session: Session, actor_id: str, action: str) -> None:
    """Refuse a person named to take work on (a manager escalated to, a major incident's
    manager) whom the directory does not hold or has deactivated."""
    person(session, actor_id).require_active(action)


# -- commands ---------------------------------------------------------------------------------


def _calendar_held(session: Session, name: str | None) -> None:
    """A group's hours name a business calendar the service holds (docs/sla.md), or none."""
    if name is not None and session.find(BusinessCalendar, calendar_id(name)) is None:
        raise CalendarNotFound(f"no business calendar {name!r}")


class RegisterPerson(Command):
    model_config = example(
        {
            "actor_id": "siti.rahma",
            "name": "Siti Rahma",
            "email": "siti.rahma@dpk-banten.example",
            "phone": "+62 812-3456-7890",
            "language": "id",
            "organisation": "dpk-banten",
            "roles": ["agent"],
        }
    )

    actor_id: ActorId
    name: str = Name
    email: Email | None = None
    phone: Phone | None = None
    language: Language = Language.ID
    organisation: Organisation = PROVINCE
    roles: Roles = Field(default_factory=list)

    def decide(self, session: Session, ctx: Context) -> UUID:
        if session.find(Person, person_id(self.actor_id)) is not None:
            raise RecordAlreadyExists(f"{self.actor_id} is already in the directory")
        session.add(Person.register(ctx, **self.__dict__))
        return person_id(self.actor_id)


class RecordPerson(RegisterPerson):
    """A person the service registers itself, saying from where: a CSV import, single sign-on or
    the seed (an admin's registration over the API is RegisterPerson, source "admin")."""

    source: str = Field(pattern=r"^(import|sso|seed)$")


class PersonCommand(ActionCommand):
    """An action on one person's entry: POST /api/v1/directory/people/{actor id}/{action}."""

    def decide(self, session: Session, ctx: Context, record_id: UUID) -> UUID:
        self.execute_on(session.get(Person, record_id), ctx)
        return record_id

    def execute_on(self, person: Person, ctx: Context) -> None:
        self.call_action(person, ctx)


class UpdatePerson(PersonCommand):
    model_config = example({"email": "siti@perpus-kota-serang.example", "language": "en"})

    action = "update"
    summary = "Change a person's name, contact details, language, organisation or roles"
    name: str | None = Field(default=None, min_length=1, max_length=200)
    email: Email | Annotated[str, Field(max_length=0)] | None = Field(
        default=None, description='a new address, or "" to remove it'
    )
    phone: Phone | Annotated[str, Field(max_length=0)] | None = Field(
        default=None, description='a new number, or "" to remove it'
    )
    language: Language | None = None
    organisation: Organisation | None = None
    roles: Roles | None = None


class ChooseMutes(PersonCommand):
    model_config = example({"topics": ["incident.commented"]})

    action = "choose-mutes"
    summary = "Choose the optional notifications a person does not want (all of them at once)"
    topics: MutableTopics


class ChooseLanguage(PersonCommand):
    model_config = example({"language": "en"})

    action = "choose-language"
    summary = "Choose the language a person is written to in (id or en)"
    language: Language

    def execute_on(self, person: Person, ctx: Context) -> None:
        person.update(ctx, language=self.language)


class DeactivatePerson(PersonCommand):
    model_config = example({"reason": "Moved to another office"})

    action = "deactivate"
    summary = "Deactivate a person: told nothing, assigned nothing; their history stays"
    reason: str | None = OptionalReason


class ReactivatePerson(PersonCommand):
    model_config = example({})

    action = "reactivate"
    summary = "Reactivate a deactivated person"


class ErasePerson(PersonCommand):
    model_config = example({"reason": "Erasure asked by the member (UU PDP art. 8), letter 114"})

    action = "erase"
    summary = (
        "Erase a person's own data for good: their name, contact details and the messages sent to"
        " them; refused while a record of theirs is under legal hold"
    )
    reason: str = Reason

    def decide(self, session: Session, ctx: Context, record_id: UUID) -> UUID:
        person = session.get(Person, record_id)
        check_person_not_held(session, person.actor_id, "erasing their data")
        person.erase(ctx, self.reason)
        return record_id


class RecordPasswordSet(PersonCommand):
    """That a sign-in password was set for the person, by whom and when (`itsm console
    password`); not an API route: the password is set on the command line."""

    model_config = example({})

    action = "record-password-set"
    summary = "Record that a sign-in password was set for a person"


class FormGroup(Command):
    model_config = example(
        {
            "code": "tim-kiosk",
            "name": "Tim Kiosk dan Gerbang RFID",
            "organisation": "dpk-banten",
            "manager": "andi.wijaya",
            "members": ["siti.rahma"],
            "hours": "office",
        }
    )

    code: str = Code
    name: str = Name
    organisation: Organisation = PROVINCE
    manager: ActorId | None = None
    members: Members = Field(default_factory=list)
    hours: str | None = Field(default=None, min_length=1, max_length=80, pattern=CODE_PATTERN)

    def decide(self, session: Session, ctx: Context) -> UUID:
        if session.find(Group, group_id(self.code)) is not None:
            raise RecordAlreadyExists(f"group {self.code} is already in the directory")
        _calendar_held(session, self.hours)
        session.add(
            Group.form(
                ctx,
                code=self.code,
                name=self.name,
                organisation=self.organisation,
                manager=person(session, self.manager) if self.manager else None,
                members=people(session, self.members),
                hours=self.hours,
            )
        )
        return group_id(self.code)


class GroupCommand(ActionCommand):
    """An action on one group: POST /api/v1/directory/groups/{code}/{action}."""

    def decide(self, session: Session, ctx: Context, record_id: UUID) -> UUID:
        self.execute(session.get(Group, record_id), session, ctx)
        return record_id

    def execute(self, group: Group, session: Session, ctx: Context) -> None:
        self.call_action(group, ctx)


class RenameGroup(GroupCommand):
    model_config = example({"name": "Tim Kiosk"})

    action = "rename"
    summary = "Rename a group"
    name: str = Name


class AddGroupMember(GroupCommand):
    model_config = example({"member": "siti.rahma"})

    action = "add-member"
    summary = "Add a person to a group"
    member: ActorId

    def execute(self, group: Group, session: Session, ctx: Context) -> None:
        group.add_member(ctx, person(session, self.member))


class RemoveGroupMember(GroupCommand):
    model_config = example({"member": "siti.rahma"})

    action = "remove-member"
    summary = "Take a person out of a group"
    member: ActorId


class AppointGroupManager(GroupCommand):
    model_config = example({"manager": "andi.wijaya"})

    action = "appoint-manager"
    summary = "Appoint a group's manager (told of breaches and hierarchical escalations)"
    manager: ActorId

    def execute(self, group: Group, session: Session, ctx: Context) -> None:
        group.appoint_manager(ctx, person(session, self.manager))


class SetGroupHours(GroupCommand):
    model_config = example({"hours": "office"})

    action = "set-hours"
    summary = "Set the business calendar of a group's working hours (none: around the clock)"
    hours: str | None = Field(default=None, min_length=1, max_length=80, pattern=CODE_PATTERN)

    def execute(self, group: Group, session: Session, ctx: Context) -> None:
        _calendar_held(session, self.hours)
        group.set_hours(ctx, self.hours)


class SetOnCallRota(GroupCommand):
    model_config = example(
        {
            "shifts": [
                {
                    "person": "siti.rahma",
                    "starts": "2026-12-05T16:00:00+07:00",
                    "ends": "2026-12-06T08:00:00+07:00",
                }
            ]
        }
    )

    action = "set-on-call-rota"
    summary = "Set a group's on-call rota (replaces the one before)"
    shifts: Rota

    def execute(self, group: Group, session: Session, ctx: Context) -> None:
        on_call = people(session, sorted({s.person for s in self.shifts}))
        group.set_on_call_rota(ctx, self.shifts, on_call)


class DisbandGroup(GroupCommand):
    model_config = example({"reason": "Merged into tim-kiosk"})

    action = "disband"
    summary = "Disband a group: no more work is assigned to it; its history stays"
    reason: str | None = OptionalReason


class CreateBroadcastList(Command):
    model_config = example(
        {"code": "major-incident", "name": "Insiden mayor", "members": ["andi.wijaya"]}
    )

    code: str = Code
    name: str = Name
    members: Members = Field(default_factory=list)

    def decide(self, session: Session, ctx: Context) -> UUID:
        if session.find(BroadcastList, broadcast_list_id(self.code)) is not None:
            raise RecordAlreadyExists(f"broadcast list {self.code} already exists")
        session.add(
            BroadcastList.create(
                ctx, code=self.code, name=self.name, members=people(session, self.members)
            )
        )
        return broadcast_list_id(self.code)


class ListCommand(ActionCommand):
    """An action on one broadcast list: POST /api/v1/directory/broadcast-lists/{code}/{action}."""

    def decide(self, session: Session, ctx: Context, record_id: UUID) -> UUID:
        self.execute(session.get(BroadcastList, record_id), session, ctx)
        return record_id

    def execute(self, listed: BroadcastList, session: Session, ctx: Context) -> None:
        self.call_action(listed, ctx)


class AddListMember(ListCommand):
    model_config = example({"member": "andi.wijaya"})

    action = "add-member"
    summary = "Add a person to a broadcast list"
    member: ActorId

    def execute(self, listed: BroadcastList, session: Session, ctx: Context) -> None:
        listed.add_member(ctx, person(session, self.member))


class RemoveListMember(ListCommand):
    model_config = example({"member": "andi.wijaya"})

    action = "remove-member"
    summary = "Take a person off a broadcast list"
    member: ActorId


PERSON_COMMANDS = by_action(
    UpdatePerson, ChooseMutes, ChooseLanguage, DeactivatePerson, ReactivatePerson, ErasePerson
)
GROUP_COMMANDS = by_action(
    RenameGroup,
    AddGroupMember,
    RemoveGroupMember,
    AppointGroupManager,
    SetGroupHours,
    SetOnCallRota,
    DisbandGroup,
)
LIST_COMMANDS = by_action(AddListMember, RemoveListMember)


def on_call(shifts: list[dict[str, Any]] | list[Shift], at: datetime) -> str | None:
    """Who is on call at `at` by a rota (as events carry it, or as a view keeps it), if anyone."""
    for shift in shifts:
        starts, ends, who = (
            (shift.starts, shift.ends, shift.person)
            if isinstance(shift, Shift)
            else (
                datetime.fromisoformat(shift["starts"]),
                datetime.fromisoformat(shift["ends"]),
                shift["person"],
            )
        )
        if starts <= at < ends:
            return who
    return None
