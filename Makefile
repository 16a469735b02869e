# The two commands of this project:
#   make up    set up .venv, train + export what has no version yet, serve on :8500
#   make test  set up .venv (and .venv-tfserving), lint, run the test suite
PYTHON  ?= python3
comma   := ,
VENV    := .venv
BIN     := $(VENV)/bin
# The extras make installs; the stamp names them, so a venv made with other extras
# is brought up to date. beam: `tfstack score --runner` and its tests.
EXTRAS  := all,test,beam
STAMP   := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))
PROFILE ?= quick
PORT    ?= 8500
REST_PORT ?= 8501
REPOSITORY := model_repository
# The TF Serving release of the image (.env), and a bare venv with only that
# release's `tensorflow`: CI loads every export there with TF Serving's session loader.
TFSERVING_VERSION := $(shell sed -n 's/^TFSERVING_VERSION=//p' .env)
SERVING_VENV  := .venv-tfserving
SERVING_STAMP := $(SERVING_VENV)/.installed-tensorflow-$(TFSERVING_VERSION)

export TF_CPP_MIN_LOG_LEVEL := 3
export TF_ENABLE_ONEDNN_OPTS := 0

.PHONY: up test install models lint clean serving-tf serving-check

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[$(EXTRAS)]'
	touch $@

serving-tf: $(SERVING_STAMP)

# Reused while its stamp names the release in .env; a new release rebuilds it.
$(SERVING_STAMP):
	@[ -n "$(TFSERVING_VERSION)" ] || { echo "no TFSERVING_VERSION in .env" >&2; exit 1; }
	rm -rf $(SERVING_VENV)
	$(PYTHON) -m venv $(SERVING_VENV)
	$(SERVING_VENV)/bin/pip install --quiet --upgrade pip
	$(SERVING_VENV)/bin/pip install --quiet tensorflow==$(TFSERVING_VERSION) numpy
	touch $@

# Loads every version in model_repository/ as TF Serving $(TFSERVING_VERSION) does and
# replays its warm-up records.
serving-check: $(SERVING_STAMP)
	@[ -n "$(wildcard $(REPOSITORY)/*/[0-9]*)" ] || { echo "no versions in $(REPOSITORY)/" >&2; exit 1; }
	$(SERVING_VENV)/bin/python .ci/session_check.py $(wildcard $(REPOSITORY)/*/[0-9]*)

# Train (PROFILE=quick by default, PROFILE=full to converge) and export each model
# whose repository folder has no version; a model already trained is only exported.
define up_model
	@if ls $(REPOSITORY)/$(1)/*/saved_model.pb >/dev/null 2>&1; then \
	  echo "$(1): serving the exported versions in $(REPOSITORY)/$(1)"; \
	else \
	  [ -f artifacts/$(1)/model.keras ] || \
	    $(BIN)/tfstack train $(1) --profile $(PROFILE) || exit 1; \
	  $(BIN)/tfstack export $(1) --repository $(REPOSITORY) || exit 1; \
	fi
endef

models: $(STAMP)
	$(call up_model,classifier)
	$(call up_model,qa)
	$(call up_model,translator)

up: models
	@echo ""
	@echo "Serving gRPC on 127.0.0.1:$(PORT), REST on :$(REST_PORT) (Ctrl-C stops). Try:"
	@echo "  $(BIN)/tfstack classify IMAGE.png [--top-k 3] [--json]"
	@echo "  $(BIN)/tfstack ask --story STORY.txt \"Where is Mary?\" [--gates gates.png]"
	@echo "  $(BIN)/tfstack translate \"Wo ist der Bahnhof?\" [--attention attention.png] [--json]"
	@echo "  $(BIN)/tfstack status"
	@echo "  $(BIN)/python -c 'from clients.client import ServingClient; \
	print(ServingClient(\"127.0.0.1:$(PORT)\").classify([\"IMAGE.png\"]))'"
	@echo "  curl -s localhost:$(REST_PORT)/v1/models/classifier"
	@echo "  curl -s -d @body.json localhost:$(REST_PORT)/v1/models/classifier:predict"
	@echo "      (body.json: {\"instances\": [{\"b64\": \"<base64 of IMAGE.png>\"}]})"
	@echo "  curl -s localhost:$(REST_PORT)/monitoring/prometheus/metrics"
	@echo ""
	exec $(BIN)/tfstack serve --port=$(PORT) --rest_api_port=$(REST_PORT) \
	  --model_config_file=serving/models.config --model_config_list_root_dir=$(CURDIR) \
	  --model_config_file_poll_wait_seconds=60 --allow_version_labels_for_unavailable_models \
	  --enable_batching --batching_parameters_file=serving/batching.config \
	  --monitoring_config_file=serving/monitoring.config

lint: $(STAMP)
	$(BIN)/ruff check .

test: $(STAMP) $(SERVING_STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

clean:
	rm -rf artifacts $(REPOSITORY) .pytest_cache
