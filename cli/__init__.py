"""The `itsm` command line: one entry point that starts each role (docs: README.md)."""
