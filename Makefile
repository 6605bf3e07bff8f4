# Two commands for a machine with Python 3.11, PostgreSQL and RabbitMQ on their standard ports:
#   make run    install, migrate, seed, start every API and worker (Ctrl-C stops all)
#   make test   install, then run the whole test suite
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
PYTHON ?= python3.11
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
# precompiled bytecode: every process (each test stack starts several) imports spaCy and the rest
# without compiling it again, wherever PYTHONDONTWRITEBYTECODE is set (as on CI machines)
export UV_COMPILE_BYTECODE := 1

.PHONY: install run test lint definitions keys bench bench-quick bench-slots bench-triage bench-text bench-mailbox bench-board clean

install: $(VENV)/.installed

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet "uv==$(UV_VERSION)"

$(VENV)/.installed: $(UV) uv.lock pyproject.toml shared/pyproject.toml services/*/pyproject.toml
	$(UV) sync --frozen --python $(PYTHON)
	touch $@

run: install
	$(VENV)/bin/clinic run

test: install
	$(VENV)/bin/pytest

lint: install
	$(VENV)/bin/ruff check .

# Regenerate the broker definitions from the topology in shared/ (a test checks they match).
definitions: install
	$(VENV)/bin/clinic topology > deploy/rabbitmq/definitions.json

# The staff-token key pair docker compose mounts as secrets (var/keys/, git-ignored).
keys: install
	$(VENV)/bin/clinic keys

# The end-to-end benchmark beside the bare PostgreSQL+RabbitMQ chain (README: "How fast").
# Starts its own processes on scratch databases and a vhost of its own; never the dev stack.
bench: install
	$(VENV)/bin/python -m bench

bench-quick: install
	$(VENV)/bin/python -m bench --quick

bench-slots: install
	$(VENV)/bin/python -m bench.slot_search

bench-text: install
	$(VENV)/bin/python -m bench.triage_text

bench-board: install
	$(VENV)/bin/python -m bench.board_view

bench-triage: install
	$(VENV)/bin/python -m bench.triage_queue

# 1,000 e-mails waiting in a private Dovecot's mailbox become requests (needs dovecot-imapd)
bench-mailbox: install
	$(VENV)/bin/python -m bench.mailbox

clean:
	rm -rf $(VENV) $(TOOLS) var
