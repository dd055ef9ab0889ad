# Quick start: `make demo`, `make test`. Both set up .venv from scratch on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The browser tests (tests/test_browser.py) drive Debian's chromium through Playwright for Python; never a
# browser download (`playwright install` is not used).
CHROMIUM := /usr/bin/chromium

.PHONY: demo test lint chromium bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

PERSONS ?= 100000
# make demo SERVE=1: after the season, the staff portal (canbao serve, http://127.0.0.1:8000/) on its database
SERVE ?=
DEMO_OUT := out/demo

DEMO_DB := sqlite:///$(abspath $(DEMO_OUT)/canbao.db)

demo: $(STAMP)
	$(BIN)/canbao policy check
	$(BIN)/canbao demo --persons $(PERSONS) --out $(DEMO_OUT)
	@# the simulated WeChat Pay and Alipay channels (canbao.simulator), their cashier served by the portal
	CANBAO_DATABASE_URL=$(DEMO_DB) $(BIN)/canbao simulator setup --dir $(DEMO_OUT)/simulator \
	  --gateway-url http://127.0.0.1:8000/simulator --actor demo
ifneq ($(filter 1 yes true,$(SERVE)),)
	CANBAO_DATABASE_URL=$(DEMO_DB) $(BIN)/canbao serve --simulator $(DEMO_OUT)/simulator
endif

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

# Debian's chromium for the browser tests, installed when missing (as root, else through sudo).
chromium:
	@test -x $(CHROMIUM) || { \
	  echo "浏览器测试需要 Debian 的 chromium，正在安装…"; \
	  if [ "$$(id -u)" -eq 0 ]; then sudo=; else sudo=sudo; fi; \
	  $$sudo apt-get update -q && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -q chromium; \
	}
	@test -x $(CHROMIUM)

test: lint chromium
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/quote_batch.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
