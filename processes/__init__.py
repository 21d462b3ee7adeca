"""The long-running processes that follow or feed the record: the relay, the SLA watcher,
the circulation pipeline, importers, the simulator and what-if runs."""
