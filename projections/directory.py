"""The directory as people look it up: `directory_people` (one row per person, found by actor id
or e-mail address), `directory_groups` (one row per group, with its members, manager, hours and
on-call rota) and `broadcast_lists`.

The notifier reads these to find whom to tell and how (address, language, what they mute); the
mail reader to find who wrote (by address); admins to see the directory. A person's row says
which groups they belong to, so "whose group is this?" is one read either way.
"""

from __future__ import annotations

from domain import directory as d
from domain.events import SHREDDED
from projections.base import Column, Projection, Row, at, by, folds_of
from projections.records import stamped
from projections.view_store import ViewStore

# -- people -------------------------------------------------------------------------------------


def _registered(_: Row | None, ev: d.PersonRegistered) -> Row:
    return {
        "id": str(ev.originator_id),
        "actor_id": ev.actor_id,
        "name": ev.name,
        "email": ev.email,
        "phone": ev.phone,
        "language": ev.language,
        "organisation": ev.organisation,
        "roles": list(ev.roles),
        "muted": [],
        "active": 1,
        "erased": False,
        "source": ev.source,
        "registered_at": at(ev),
        "registered_by": by(ev),
        "updated_at": at(ev),
        "version": ev.originator_version,
    }


def _renamed(row: Row, ev: d.PersonRenamed) -> Row:
    return stamped(row, ev, name=ev.name)


def _contact_changed(row: Row, ev: d.ContactChanged) -> Row:
    return stamped(row, ev, email=ev.email, phone=ev.phone)


def _language_chosen(row: Row, ev: d.LanguageChosen) -> Row:
    return stamped(row, ev, language=ev.language)


def _organisation_changed(row: Row, ev: d.OrganisationChanged) -> Row:
    return stamped(row, ev, organisation=ev.organisation)


def _roles_changed(row: Row, ev: d.RolesChanged) -> Row:
    return stamped(row, ev, roles=list(ev.roles))


def _mutes_chosen(row: Row, ev: d.MutesChosen) -> Row:
    return stamped(row, ev, muted=list(ev.topics))


def _deactivated(row: Row, ev: d.PersonDeactivated) -> Row:
    return stamped(row, ev, active=0)


def _reactivated(row: Row, ev: d.PersonReactivated) -> Row:
    return stamped(row, ev, active=1)


def _erased(row: Row, ev: d.PersonErased) -> Row:
    # the row read the events before as they were; a rebuild reads them erased: the same row
    return stamped(row, ev, name=SHREDDED, email=None, phone=None, active=0, erased=True)


directory_people = Projection(
    name="directory_people",
    version=2,
    folds=folds_of(
        _registered,
        _renamed,
        _contact_changed,
        _language_chosen,
        _organisation_changed,
        _roles_changed,
        _mutes_chosen,
        _deactivated,
        _reactivated,
        _erased,
    ),
    columns=(
        Column("actor_id", "TEXT"),
        Column("email", "TEXT"),
        Column("organisation", "TEXT"),
        Column("active", "INTEGER"),
    ),
    indexes=(("actor_id",), ("email",), ("organisation", "actor_id")),
)


# -- groups -------------------------------------------------------------------------------------


def _formed(_: Row | None, ev: d.GroupFormed) -> Row:
    return {
        "id": str(ev.originator_id),
        "code": ev.code,
        "name": ev.name,
        "organisation": ev.organisation,
        "manager": ev.manager,
        "members": list(ev.members),
        "hours": ev.hours,
        "on_call": [],
        "disbanded": 0,
        "formed_at": at(ev),
        "formed_by": by(ev),
        "updated_at": at(ev),
        "version": ev.originator_version,
    }


def _group_renamed(row: Row, ev: d.GroupRenamed) -> Row:
    return stamped(row, ev, name=ev.name)


def _joined(row: Row, ev: d.GroupMemberAdded) -> Row:
    return _member_added(row, ev)


def _left(row: Row, ev: d.GroupMemberRemoved) -> Row:
    return _member_removed(row, ev)


def _member_added(row: Row, ev: d.MemberAdded) -> Row:
    return stamped(row, ev, members=sorted({*row["members"], ev.member}))


def _member_removed(row: Row, ev: d.MemberRemoved) -> Row:
    return stamped(row, ev, members=[m for m in row["members"] if m != ev.member])


def _manager_appointed(row: Row, ev: d.ManagerAppointed) -> Row:
    return stamped(row, ev, manager=ev.manager)


def _hours_set(row: Row, ev: d.HoursSet) -> Row:
    return stamped(row, ev, hours=ev.hours)


def _rota_set(row: Row, ev: d.OnCallRotaSet) -> Row:
    shifts = [
        {"person": s.person, "starts": s.starts.isoformat(), "ends": s.ends.isoformat()}
        for s in ev.shifts
    ]
    return stamped(row, ev, on_call=shifts)


def _disbanded(row: Row, ev: d.GroupDisbanded) -> Row:
    return stamped(row, ev, disbanded=1)


directory_groups = Projection(
    name="directory_groups",
    version=1,
    folds=folds_of(
        _formed,
        _group_renamed,
        _joined,
        _left,
        _manager_appointed,
        _hours_set,
        _rota_set,
        _disbanded,
    ),
    columns=(Column("code", "TEXT"), Column("organisation", "TEXT")),
    indexes=(("code",), ("organisation", "code")),
)


def _list_created(_: Row | None, ev: d.BroadcastListCreated) -> Row:
    return {
        "id": str(ev.originator_id),
        "code": ev.code,
        "name": ev.name,
        "members": list(ev.members),
        "created_at": at(ev),
        "created_by": by(ev),
        "updated_at": at(ev),
        "version": ev.originator_version,
    }


def _list_joined(row: Row, ev: d.ListMemberAdded) -> Row:
    return _member_added(row, ev)


def _list_left(row: Row, ev: d.ListMemberRemoved) -> Row:
    return _member_removed(row, ev)


broadcast_lists = Projection(
    name="broadcast_lists",
    version=1,
    folds=folds_of(_list_created, _list_joined, _list_left),
    columns=(Column("code", "TEXT"),),
    indexes=(("code",),),
)
# -- look-ups -----------------------------------------------------------------------------------


def person(views: ViewStore, actor_id: str) -> Row | None:
    """The directory's row of the person of that actor id, if it holds one."""
    return views.get(directory_people, str(d.person_id(actor_id)))


def person_by_email(views: ViewStore, address: str) -> Row | None:
    """The active person whose address this is (case folded), if exactly one is: an address two
    people share names neither (the mail reader then treats the sender as unknown)."""
    rows = views.select(directory_people, '"email" = ? AND "active" = 1', (address.lower(),))
    return rows[0] if len(rows) == 1 else None


def group(views: ViewStore, code: str) -> Row | None:
    return views.get(directory_groups, str(d.group_id(code)))


def broadcast_list(views: ViewStore, code: str) -> Row | None:
    return views.get(broadcast_lists, str(d.broadcast_list_id(code)))


def groups_of(views: ViewStore, actor_id: str) -> list[str]:
    """The codes of the groups (not disbanded) a person is a member of. A scan: a province's
    directory holds tens of groups."""
    return sorted(
        row["code"]
        for row in views.rows(directory_groups).values()
        if not row["disbanded"] and actor_id in row["members"]
    )
