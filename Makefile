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

nginx:
	@bash scripts/install_nginx.sh

.PHONY: help setup browser nginx train db run run-prod test lint typecheck validate pytest rasa-test bench-nlu bench-nlu-japanese bench-language bench-issues bench-load bench-import bench-conversations clean

help:
	@echo "make run        start Rasa (5005), the action server (5055) and the API (8000) with demo data"
	@echo "make test       run every check and test (what CI runs); PYTEST_ARGS='-m \"not faults\"' skips the fault tests"
	@echo "make run-prod   the production profile (docs/production.md): Rasa replicas behind nginx, PG, Redis, RabbitMQ"
	@echo "make bench-nlu  train and compare our NLU config with Rasa's default; writes docs/benchmarks/nlu.md"
	@echo "make bench-nlu-japanese  Japanese held-out figures, one model vs one per language; writes docs/benchmarks/nlu_japanese.md"
	@echo "make bench-language  how well and how fast the language of a message is told; writes docs/benchmarks/language.md"
	@echo "make bench-issues  messages with several matters: split and answered (docs/benchmarks/issues.md)"
	@echo "make bench-load load-test the embedded and production profiles; writes docs/benchmarks/load.md"
	@echo "make bench-import  import 100,000 invoice lines (SQLite, PostgreSQL); writes docs/benchmarks/import.md"
	@echo "make bench-conversations  hold the held-out conversations; writes docs/benchmarks/conversations.md"
	@echo "make setup | nginx | train | db | lint | typecheck | validate | pytest | rasa-test | clean"

setup:
	@bash scripts/setup.sh

train: setup
	@bash scripts/train.sh

db: setup
	@$(VENV)/csp-desk init-db

run: train db
	@$(VENV)/csp-desk run

# The production profile: needs APP_MODE=production's real secrets and the services'
# URLs in the environment or .env (docs/production.md). Migrates, never seeds.
run-prod: train nginx
	APP_MODE=production $(VENV)/csp-desk migrate
	@APP_MODE=production $(VENV)/csp-desk run

lint: setup
	$(VENV)/ruff check .
	$(VENV)/ruff format --check .
	$(VENV)/lint-imports --no-cache

typecheck: setup
	$(VENV)/mypy

validate: setup
	$(RASA)/python scripts/validate.py

pytest: train browser nginx
	$(RASA)/python -m pytest tests/bot/nlu -q -p no:cacheprovider --confcutdir=tests/bot
	$(RASA)/python -m pytest tests/bot/channels -q -p no:cacheprovider --confcutdir=tests/bot
	$(RASA)/python -m pytest tests/bot/dialogue -q -p no:cacheprovider --confcutdir=tests/bot
	$(RASA)/python -m pytest tests/common -q -p no:cacheprovider --confcutdir=tests/common
	$(VENV)/pytest -q --ignore=tests/bot $(PYTEST_ARGS)

rasa-test: train
	@bash scripts/rasa_test.sh

test: lint typecheck validate pytest rasa-test
	@echo "make test: all checks passed"

bench-nlu: setup
	$(RASA)/python -m bot.spacy_pipeline --out build/spacy/csp_en
	$(RASA)/python scripts/bench_nlu.py $(BENCH_ARGS)

# Language detection (bot/language.py): English kept English, other languages told,
# cost per message (under a minute; no training).
# Japanese: held-out splits of data/nlu and data/nlu/ja, one model for both languages
# against one per language (three trainings, about 10 minutes).
bench-nlu-japanese: setup
	$(RASA)/python -m bot.spacy_pipeline --out build/spacy/csp_en
	$(RASA)/python scripts/bench_nlu.py --japanese $(BENCH_ARGS)

bench-language: setup
	$(RASA)/python scripts/bench_language.py --out docs/benchmarks/language.md $(BENCH_ARGS)

# Messages with several matters (bot/issues.py) on bench/nlu/issues.yml and the public
# rows, with the trained model; writes docs/benchmarks/issues.md.
bench-issues: train
	$(RASA)/python scripts/bench_issues.py $(BENCH_ARGS)

# Conversation benchmark: the held-out conversations of bench/conversations/ and the
# development set of tests/conversations/, judged on facts (a few minutes).
bench-conversations: train
	$(VENV)/python scripts/bench_conversations.py $(BENCH_ARGS)

# Import benchmark: 100,000 invoice lines into fresh SQLite (and PostgreSQL, when it
# answers on 127.0.0.1) databases, three runs (a few minutes).
bench-import: setup
	$(VENV)/python scripts/bench_import.py $(BENCH_ARGS)

# Load benchmark (a few minutes; uses the local PostgreSQL, Redis and RabbitMQ).
bench-load: train nginx
	$(VENV)/python scripts/bench_load.py

clean:
	rm -rf models build results var .pytest_cache .mypy_cache .ruff_cache
