"""The organisations whose records this service keeps: the provincial library office and the
eight regency/city libraries of Banten. Records carry the code of the organisation they belong
to; agents see and act on their own organisation's records (domain/actors.py, Identity.sees).

An aggregate whose state has an `organisation` (incidents, service requests, problems, changes)
is an organisation's record: a command run with a caller's scope (Context.scope) finds it only if
the caller sees that organisation (domain/records_desk.py Session.get, domain/service_desk.py).
Catalogue data (configuration items, change templates, catalogue items) and the rules (SLA
policies, calendars, the priority matrix) belong to no organisation: every role that reads them
sees all of them (docs/security.md, "Organisations")."""

from __future__ import annotations

from pydantic import Field

#: The provincial office (Dinas Perpustakaan dan Kearsipan Provinsi Banten): the organisation of
#: records made before records carried one, of records with no other, and of callers whose
#: identity names none.
PROVINCE = "dpk-banten"

#: The shape of an organisation code (the seed catalogue's codes have it).
ORGANISATION_PATTERN = r"^[a-z0-9][a-z0-9-]*$"

#: An organisation code, as records and identities carry it.
OrganisationCode = Field(
    default=PROVINCE, min_length=1, max_length=64, pattern=ORGANISATION_PATTERN
)

#: A command's optional organisation: the record's, when the caller may make it for another.
RequestedOrganisation = Field(
    default=None,
    min_length=1,
    max_length=64,
    pattern=ORGANISATION_PATTERN,
    description="the organisation whose record it is; default: the caller's own",
)
