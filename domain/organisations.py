"""The organisations whose records this service keeps: the provincial library office and the
eight regency/city libraries of Banten. Records carry the code of the organisation they belong
to; agents see and act on their own organisation's records (domain/actors.py, Identity.sees).

An aggregate whose state has an `organisation` (incidents, service requests, problems, changes)
is an organisation's record: a command run with a caller's scope (Context.scope) finds it only if
the caller sees that organisation (application/session.py Session.get, on every command).
Catalogue data (configuration items, change templates, catalogue items) and the rules (SLA
policies, calendars, the priority matrix) belong to no organisation: every role that reads them
sees all of them (docs/security.md, "Organisations").

A command that names the organisation of the record it makes may name only one of these
(`RequestedOrganisation`): a record of an organisation that does not exist would be reached by
no agent and counted in no organisation's report."""

from __future__ import annotations

import re

from pydantic import Field

#: The provincial office (Dinas Perpustakaan dan Kearsipan Provinsi Banten): the organisation of
#: records made before records carried one, of records with no other, and of callers whose
#: identity names none.
PROVINCE = "dpk-banten"

#: The provincial office and the eight regency/city libraries of Banten: (code, name, place).
ORGANISATIONS: tuple[tuple[str, str, str], ...] = (
    (PROVINCE, "Dinas Perpustakaan dan Kearsipan Provinsi Banten", "KP3B, Kota Serang"),
    ("perpus-kab-serang", "Perpustakaan Kabupaten Serang", "Ciruas, Kabupaten Serang"),
    ("perpus-kab-pandeglang", "Perpustakaan Kabupaten Pandeglang", "Pandeglang"),
    ("perpus-kab-lebak", "Perpustakaan Kabupaten Lebak", "Rangkasbitung, Lebak"),
    ("perpus-kab-tangerang", "Perpustakaan Kabupaten Tangerang", "Tigaraksa, Tangerang"),
    ("perpus-kota-serang", "Perpustakaan Kota Serang", "Kota Serang"),
    ("perpus-kota-cilegon", "Perpustakaan Kota Cilegon", "Kota Cilegon"),
    ("perpus-kota-tangerang", "Perpustakaan Kota Tangerang", "Kota Tangerang"),
    ("perpus-kota-tangsel", "Perpustakaan Kota Tangerang Selatan", "Kota Tangerang Selatan"),
)

#: The codes of the organisations whose records the service keeps.
ORGANISATION_CODES = frozenset(code for code, _, _ in ORGANISATIONS)

#: The shape of an organisation code (the seed catalogue's codes have it).
ORGANISATION_PATTERN = r"^[a-z0-9][a-z0-9-]*$"

#: Exactly one of the organisations the service keeps (in the schema, so clients see the list).
KNOWN_ORGANISATION_PATTERN = (
    "^(?:" + "|".join(re.escape(code) for code, _, _ in ORGANISATIONS) + ")$"
)

#: An organisation code, as records and identities carry it.
OrganisationCode = Field(
    default=PROVINCE, min_length=1, max_length=64, pattern=ORGANISATION_PATTERN
)

#: A command's optional organisation: the record's, when the caller may make it for another.
#: One of the organisations the service keeps; another is refused as invalid input (422, naming
#: the field) before any rule runs, whoever the caller.
RequestedOrganisation = Field(
    default=None,
    min_length=1,
    max_length=64,
    pattern=KNOWN_ORGANISATION_PATTERN,
    description="the organisation whose record it is, one of "
    + ", ".join(code for code, _, _ in ORGANISATIONS)
    + "; default: the caller's own",
    examples=[PROVINCE],
)
