# The two commands of the README:
#   make run    set up and open the chat app on the bundled corpus (http://127.0.0.1:7860)
#   make test   set up, lint (ruff, settings in pyproject.toml) and run the test suite (installs Debian's
#               chromium and CJK fonts for the browser tests)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export GRADIO_ANALYTICS_ENABLED := False
export PYTHONUNBUFFERED := 1

.PHONY: run test setup setup-dev chromium eval bench

run: $(VENV)/.runtime
	$(BIN)/python app.py

test: $(VENV)/.dev chromium
	$(BIN)/ruff check qa tests app.py
	$(BIN)/python -m pytest

setup: $(VENV)/.runtime
setup-dev: $(VENV)/.dev

$(VENV)/.runtime: requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q -r requirements.txt
	$(BIN)/pip install --disable-pip-version-check -q --no-deps -e . --config-settings editable_mode=compat
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q -r requirements-dev.txt
	$(BIN)/pip install --disable-pip-version-check -q --no-deps -e . --config-settings editable_mode=compat
	touch $(VENV)/.runtime $@

# Debian's chromium for the browser tests, and a CJK font: without one, Chinese shows as empty boxes
chromium:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)
	@dpkg -s fonts-noto-cjk >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq fonts-noto-cjk >/dev/null)
