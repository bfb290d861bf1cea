# The two commands a newcomer needs:
#   make run    set up, train if needed, migrate + seed the demo DB, start everything
#   make test   set up, train if needed, then lint, type-check, validate and test
# Everything else here is a step of those two.

SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv/bin
RASA := .venv-rasa/bin
export SQLALCHEMY_SILENCE_UBER_WARNING := 1
export TF_CPP_MIN_LOG_LEVEL := 2

browser:
	@bash scripts/install_browser.sh

.PHONY: help setup browser train db run test lint typecheck validate pytest rasa-test bench-nlu clean

help:
	@echo "make run        start Rasa (5005), the action server (5055) and the API (8000) with demo data"
	@echo "make test       run every check and test (what CI runs)"
	@echo "make bench-nlu  train and compare our NLU config with Rasa's default; writes docs/benchmarks/nlu.md"
	@echo "make setup | train | db | lint | typecheck | validate | pytest | rasa-test | clean"

setup:
	@bash scripts/setup.sh

train: setup
	@bash scripts/train.sh

db: setup
	@$(VENV)/python -m api.cli init-db

run: train db
	@$(VENV)/python -m api.launch

lint: setup
	$(VENV)/ruff check .
	$(VENV)/ruff format --check .

typecheck: setup
	$(VENV)/mypy

validate: setup
	$(RASA)/rasa data validate --domain domain --data data --config config.yml

pytest: train browser
	$(RASA)/python -m pytest tests/nlu -q -p no:cacheprovider --confcutdir=tests/nlu
	$(RASA)/python -m pytest tests/channels/rasa -q -p no:cacheprovider --confcutdir=tests/channels/rasa
	$(VENV)/pytest -q --ignore=tests/nlu

rasa-test: train
	$(RASA)/rasa test core --model models/csp.tar.gz --stories tests/test_stories.yml \
	  --e2e --fail-on-prediction-errors --out results/core
	$(RASA)/rasa test core --model models/csp.tar.gz --stories tests/test_stories_escalation.yml \
	  --e2e --fail-on-prediction-errors --out results/core-escalation

test: lint typecheck validate pytest rasa-test
	@echo "make test: all checks passed"

bench-nlu: setup
	$(RASA)/python scripts/bench_nlu.py

clean:
	rm -rf models build results var .pytest_cache .mypy_cache .ruff_cache
