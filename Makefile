# Two commands do all the set-up on a fresh machine (see README.md):
#   make serve   run the service on its embedded default (SQLite under ./var)
#   make test    run every test
# Both create the environment first if it is missing: uv (pinned, from PyPI) in .tools/,
# then exactly the locked dependencies in .venv/ from uv.lock.

UV_VERSION := 0.13.9
UV := .tools/bin/uv
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON := python3

.PHONY: serve test lint bench env clean

$(UV):
	python3 -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

.venv/.synced: $(UV) uv.lock pyproject.toml
	$(UV) sync --locked --quiet
	touch $@

env: .venv/.synced

# Readable log lines for a developer's terminal (the service's default is JSON lines).
serve: env
	ITSM_LOG_FORMAT=$${ITSM_LOG_FORMAT:-text} .venv/bin/itsm serve

test: env
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy
	.venv/bin/pytest -n auto

lint: env
	.venv/bin/ruff check .
	.venv/bin/mypy

bench: env
	.venv/bin/python -m benchmarks.foundation

clean:
	rm -rf .venv .tools
