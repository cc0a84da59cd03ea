# cameo — every target installs what it needs; `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PY        ?= python3
VENV      := .venv
BIN       := $(VENV)/bin
DEV_STAMP := $(VENV)/.installed
NODE_STAMP:= node_modules/.installed
SAM_VENV  := .venv-sam
SAM_STAMP := $(SAM_VENV)/.installed
CHECKOV_VENV  := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
# sam build needs a python3.13 interpreter on PATH; pyenv provides one next to 3.11.
SAM_PYENV ?= 3.11.7:3.13.0
# No SAM CLI telemetry calls from dev machines or CI (CI has no network but the registries).
export SAM_CLI_TELEMETRY := 0

VIDEO   ?=
GALLERY ?=
FN      ?=
EVENT   ?=

.PHONY: help dev demo up down status test pytest lint format typecheck validate build deploy \
        invoke redrive bench sam-venv chromium clean

help: ## Show the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

# --- install ---------------------------------------------------------------------------------
$(DEV_STAMP): pyproject.toml engine/pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]' -e './engine[synth]'
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(SAM_STAMP): requirements-sam.txt
	$(PY) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/pip install --quiet -r requirements-sam.txt
	touch $@

$(CHECKOV_STAMP): requirements-checkov.txt
	$(PY) -m venv $(CHECKOV_VENV)
	echo '*' > $(CHECKOV_VENV)/.gitignore
	$(CHECKOV_VENV)/bin/pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/pip install --quiet -r requirements-checkov.txt
	touch $@

dev: $(DEV_STAMP) $(NODE_STAMP) ## Install the project venv (.venv), the engine and DynamoDB Local

# The browser test's headless Chromium and its driver, from Debian (CI: root on Debian 12).
chromium: ## Install Debian's chromium + chromium-driver when missing (for tests/browser)
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
	  sudo=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
	  $$sudo apt-get update && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y chromium chromium-driver; \
	fi

sam-venv: $(SAM_STAMP) $(CHECKOV_STAMP) ## Install SAM CLI + cfn-lint and checkov in their own venvs

# --- the offline job -------------------------------------------------------------------------
demo: dev ## Run the whole job offline: gallery + video -> stack -> table + PNG + page URL
	@# A fresh stack (up wipes its data anyway), left up so the printed page URL stays served.
	@echo "make demo: stopping the offline stack if one is running (the demo starts a fresh one; its data is wiped)"
	@$(BIN)/cameo stack down
	@$(BIN)/cameo demo --keep-running $(if $(VIDEO),--video "$(VIDEO)") $(if $(GALLERY),--gallery "$(GALLERY)"); \
	  code=$$?; \
	  if [ $$code -eq 0 ]; then \
	    echo "make demo: the offline stack stays up and serves the page above; \`make down\` stops it"; \
	  else \
	    echo "make demo: failed (exit $$code); whatever of the stack started is still up: \`make down\` stops it"; \
	  fi; \
	  exit $$code

up: dev ## Start the offline stack and leave it running (see `cameo stack env`)
	$(BIN)/cameo stack up $(if $(GALLERY),--gallery "$(GALLERY)")

down: ## Stop the offline stack
	@if [ -x $(BIN)/cameo ]; then $(BIN)/cameo stack down; fi

status: dev ## Health of the offline stack's services
	$(BIN)/cameo stack status

invoke: dev ## Run one handler on one event file against the running stack: FN=... EVENT=events/...
	@test -n "$(FN)" -a -n "$(EVENT)" || { echo "usage: make invoke FN=StartRecognitionFunction EVENT=events/s3_put_unicode_key.json"; exit 2; }
	$(BIN)/cameo invoke "$(FN)" "$(EVENT)"

redrive: dev ## Send the local dead-letter queue's events back through their handlers
	$(BIN)/cameo dlq redrive

# --- checks ----------------------------------------------------------------------------------
test: lint typecheck validate pytest ## Everything CI runs: lint, types, template checks, all tests

pytest: dev sam-venv chromium
	@# pytest exits 5 when it collected no tests: report it instead of failing obscurely.
	$(BIN)/pytest --cov --cov-report=term; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest: no tests ran (exit 5)"; exit 0; fi; exit $$rc

lint: dev ## ruff lint + format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: dev ## mypy (strict) on the shared layer
	$(BIN)/mypy

validate: sam-venv ## sam validate --lint (cfn-lint) and checkov on template.yaml
	$(SAM_VENV)/bin/sam validate --lint --template template.yaml
	@# --skip-download: no calls to the Prisma Cloud API (guidelines, severities); every check runs locally.
	$(CHECKOV_VENV)/bin/checkov --quiet --compact --skip-download --framework cloudformation -f template.yaml

build: sam-venv ## sam build (python3.13, arm64) without Docker
	PYENV_VERSION=$(SAM_PYENV) $(SAM_VENV)/bin/sam build

deploy: build ## sam deploy --guided (needs AWS credentials)
	$(SAM_VENV)/bin/sam deploy --guided

bench: dev ## Benchmarks (figures as ratios against a baseline measured in the same run)
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/cold_start.py
	$(BIN)/python benchmarks/engine_speed.py
	$(BIN)/python benchmarks/engine_accuracy.py
	$(BIN)/python benchmarks/backlog_drain.py

clean: down ## Remove venvs, build output and local state
	rm -rf $(VENV) $(SAM_VENV) $(CHECKOV_VENV) node_modules .aws-sam .stack .cache demo-output
