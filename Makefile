# Two commands do all the set-up on a fresh machine (see README.md):
#   make serve   run the service on its embedded default (SQLite under ./var)
#   make test    run every test
#   make mutation  mutation-test domain/ with the unit tests (long: see docs/testing.md)
# Both create the environment first if it is missing: uv (pinned, from PyPI) in .tools/,
# then exactly the locked dependencies in .venv/ from uv.lock.

UV_VERSION := 0.13.9
UV := .tools/bin/uv
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON := python3

.PHONY: serve test lint bench mutation env clean

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
	.venv/bin/lint-imports
	.venv/bin/pytest -n auto --dist worksteal

lint: env
	.venv/bin/ruff check .
	.venv/bin/mypy
	.venv/bin/lint-imports

bench: env
	.venv/bin/python -m benchmarks.foundation

# mutmut (configured in pyproject.toml [tool.mutmut]) copies the tree into mutants/, runs the unit
# tests against every mutant of domain/ and keeps the results there, so a second run only checks
# what changed. MUTANTS narrows the run, e.g. MUTANTS='domain.incident.*' (mutmut's own names);
# MUTATION_CHILDREN sets the parallel test processes. Prints the score of each file.
MUTANTS ?=
MUTATION_CHILDREN ?= 2

mutation: env
	.venv/bin/mutmut run --max-children $(MUTATION_CHILDREN) $(MUTANTS)
	.venv/bin/python -m tests.mutation_scores

clean:
	rm -rf .venv .tools mutants
