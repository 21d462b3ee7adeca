"""The organisations whose records this service keeps: the provincial library office and the
eight regency/city libraries of Banten. Records carry the code of the organisation they belong
to; agents see and act on their own organisation's records (domain/actors.py, Identity.sees)."""

from __future__ import annotations

from pydantic import Field

#: The provincial office (Dinas Perpustakaan dan Kearsipan Provinsi Banten): the organisation of
#: records made before records carried one, and of records with no other.
PROVINCE = "dpk-banten"

#: An organisation code, as records and identities carry it.
OrganisationCode = Field(
    default=PROVINCE, min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9-]*$"
)
