"""The application layer: the one road every kind of record takes (docs/architecture.md).

kinds.py is the registry of record kinds; pipeline.py the command pipeline (resolve, load,
decide, append atomically, idempotency) and its group commit; session.py the records one command
reads and changes; desk.py the store, the rules of record and the entry points; writer.py the
group commit on the API's event loop.
"""
