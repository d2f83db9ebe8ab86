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

.PHONY: install services db run test lint clean

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	@# torch first, pinned: the CPU build, so sentence-transformers does not pull a CUDA one.
	$(BIN)/pip install --quiet torch==$(TORCH_VERSION)
	@ls $(WHEEL_CACHE)/llama_cpp_python-$(LLAMA_CPP_VERSION)-*.whl >/dev/null 2>&1 || \
	  $(BIN)/pip wheel --quiet --no-deps llama-cpp-python==$(LLAMA_CPP_VERSION) -w $(WHEEL_CACHE)
	$(BIN)/pip install --quiet --find-links $(WHEEL_CACHE) -r requirements-dev.txt
	touch $@

services:  ## PostgreSQL and Redis answering on 127.0.0.1 (started or installed when needed)
	@bash .ci/services.sh

.env:
	cp .env.example .env

db: install .env
	$(FLASK) create-db
	$(FLASK) db upgrade

run: install services .env db  ## migrate, ingest docs_corpus/, start API, worker, beat and Flower
	mkdir -p instance
	$(FLASK) rag ingest docs_corpus
	@set -a; source .env; set +a; \
	echo "API      http://localhost:$${API_BIND##*:}/api/v1  (docs: /docs, health: /readyz)"; \
	echo "Flower   http://localhost:$${FLOWER_PORT:-5555}"
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho start -f Procfile

lint: install
	$(BIN)/ruff check .

test: install services lint
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
