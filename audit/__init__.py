"""The tamper-evident audit ledger (ISO/IEC 20000-1 7.5.3, 9.2; DESIGN.md invariant 6).

The event store is the record; the ledger is a hash chain over every stored event in global
order, with signed checkpoints that leave the service (Kafka, files an auditor keeps). `chain`
is the pure arithmetic, `keys` the signing key, `store` the tables (SQLite, PostgreSQL) and the
triggers that make the database refuse UPDATE and DELETE, `ledger` the follower that appends,
`verify` the check, and `evidence` what auditors read and take away.
"""
