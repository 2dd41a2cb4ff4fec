# codi: the user's entry points. `make help` lists them.

# Builds persist between runs (and between CI runs on one machine) unless told otherwise.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/codi/target
CORPUS ?= ../shared/corpus
FUZZ_SECONDS ?= 600
CODI := $(CARGO_TARGET_DIR)/release/codi
SAMPLES := data/samples
OUT ?= out
DATA ?= data
# Where data-collect collects from: the sample projects by default; for GitHub, e.g.
# COLLECT="--github --max-files 5000" (token in GITHUB_TOKEN); for the dev corpus,
# COLLECT="--local ../shared/corpus/dockerfiles --provenance ../shared/corpus/MANIFEST.csv".
COLLECT ?= --local $(SAMPLES)
# The run `make train` makes: the default model on the sample splits, on CPU.
TRAIN_CONFIG ?= configs/train/smollm2-135m-qlora.yaml

.PHONY: help build release image run feedback serve test check fmt docs bench agreement fuzz fuzz-model model generate train train-resume \
	eval eval-nightly promote eval-report-check \
	data-collect data-extract data-label data-prepare data-prepare-full data-synthesize train-synth data-clean data-push data-pull

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

build: ## Debug build of the workspace
	cargo build --workspace

release: ## Optimized `codi` binary
	cargo build --release --locked -p codi

image: ## The runtime container, `codi serve` (deploy/Dockerfile), where Docker is installed
	@command -v docker >/dev/null || { echo "make image: no docker here; deploy/Dockerfile is linted, policy-checked and its entry tested by crates/cli/tests/image.rs"; exit 1; }
	docker build -f deploy/Dockerfile -t codi-serve:$$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1) .

# The adapter `make run` ranks with: `make train`'s, else any trained one; none: the base model.
RUN_ADAPTER ?= $(firstword $(patsubst %/adapter_model.safetensors,%,$(wildcard models/adapters/smollm2-135m-codi/adapter_model.safetensors models/adapters/*/adapter_model.safetensors)))
RUNS ?= runs

run: release model ## The main job: analyze, render, rank (the default model, with the trained adapter when there is one) and explain the sample projects into runs/<id>/
	$(if $(RUN_ADAPTER),ADAPTER_PATH=$(RUN_ADAPTER) )$(CODI) run --out $(RUNS) $(SAMPLES)/*/

feedback: release ## Accept or reject a candidate of a run: make feedback RUN=<id> ARGS="--accept <project>/<rule> --reason …"
	$(CODI) feedback --runs $(RUNS) $(RUN) $(ARGS)

serve: release model ## The model server on 127.0.0.1:8081 (configs/serve.yaml; ADAPTER_PATH, LLM_ENABLED, … override it)
	$(CODI) serve $(SERVE_ARGS)

model: ## Fetch the default model (SmolLM2-135M-Instruct, Q4_1 GGUF) into models/base, sha256-checked
	scripts/fetch-model.sh

generate: release model ## Ask the default model something: make generate PROMPT="What is a Dockerfile?"
	$(CODI) generate --chat "$(or $(PROMPT),What is a multi-stage Docker build? Answer in two sentences.)"

train: release model ## Train a QLoRA adapter (TRAIN_CONFIG; after `make data-prepare`) into models/adapters/<name>/, verified
	$(CODI) train --config $(TRAIN_CONFIG)

train-resume: release model ## Continue the newest checkpoint of TRAIN_CONFIG's run (runs/train/<name>/)
	$(CODI) train --config $(TRAIN_CONFIG) --resume-from latest

eval: release model ## Rules-only vs base vs adapter on the test split (configs/eval.yaml; after `make train`) into eval/runs/ and eval/reports/llm_eval.html
	$(CODI) eval $(EVAL_ARGS)

eval-nightly: release model ## The promoted adapter again, against the run that promoted it; fails on a regression
	$(CODI) eval --nightly $(EVAL_ARGS)

promote: release ## The promotion gate for RUN (an eval run id): make promote RUN=20261202_0130 [PROMOTE_ARGS=--dry-run]
	$(CODI) promote --run $(RUN) $(PROMOTE_ARGS)

eval-report-check: ## Render eval/reports/llm_eval.html in headless Chromium to out/llm_eval.png
	scripts/check-report.sh eval/reports/llm_eval.html $(OUT)/llm_eval.png

test: ## All tests (the oracle tests need `.ci/run`'s Python tools and `make model`)
	cargo test --workspace

check: ## Formatting and clippy, warnings as errors
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

fmt: ## Format the code
	cargo fmt --all

docs: release ## Regenerate docs/rules.md from the rules' doc comments
	$(CODI) rules --format markdown --output docs/rules.md

bench: release model ## Lint vs hadolint, agreement, rewrite checks, data pipeline at 100k files, the model runtime, LoRA training
	$(CODI) bench lint --corpus $(CORPUS) --compare-hadolint
	$(CODI) bench agreement --corpus $(CORPUS)
	$(CODI) bench rewrite --hadolint
	$(CODI) bench data --files 100000 --corpus $(CORPUS)
	$(CODI) bench model
	$(CODI) bench train
	$(CODI) bench eval
	$(CODI) bench serve
	$(CODI) bench sync --data $(DATA)

agreement: release ## Per-code precision/recall/F1 against hadolint's labels, with every disagreement
	$(CODI) bench agreement --corpus $(CORPUS) --disagreements

fuzz: ## Fuzz the parser for FUZZ_SECONDS (needs the nightly toolchain and cargo-fuzz)
	mkdir -p fuzz/corpus/parse
	cp crates/core/tests/fixtures/parser/*.Dockerfile crates/core/tests/fixtures/rules/*.Dockerfile fuzz/corpus/parse/
	cd fuzz && cargo +nightly fuzz run -O parse corpus/parse -- -max_total_time=$(FUZZ_SECONDS) -max_len=16384 -print_final_stats=1

fuzz-model: ## Fuzz the GGUF header reader and the safetensors loader for FUZZ_SECONDS each
	cd fuzz && cargo +nightly fuzz run -O gguf -- -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -print_final_stats=1
	cd fuzz && cargo +nightly fuzz run -O safetensors -- -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -print_final_stats=1

data-collect: release ## Collect Dockerfiles and their context into data/raw (see COLLECT)
	$(CODI) data collect $(COLLECT) --out $(DATA)/raw

data-extract: data-collect ## Add the scripts each collected Dockerfile copies and runs
	$(CODI) data extract --raw $(DATA)/raw

data-label: data-extract ## The analyzer over data/raw into data/labeled
	$(CODI) data label --raw $(DATA)/raw --out $(DATA)/labeled

data-prepare: data-label ## standardize → pairs → split, incremental; works offline on data/samples
	$(CODI) data prepare --data $(DATA)

data-prepare-full: data-extract ## Label, standardize, pairs and split again from scratch
	$(CODI) data label --full --raw $(DATA)/raw --out $(DATA)/labeled
	$(CODI) data prepare --full --data $(DATA)

# The synthesized data set: VARIANTS variants of each sample project, in a data tree of its own
# (each seed and its variants are one split group; see docs/data.md, "Synthesized projects").
SYNTH ?= data/synth
VARIANTS ?= 40
data-synthesize: release ## Synthesize VARIANTS variants of each sample project into SYNTH/raw, then label, standardize, pairs and split them there
	$(CODI) data synthesize --samples $(SAMPLES) --raw $(SYNTH)/raw --variants $(VARIANTS)
	$(CODI) data label --raw $(SYNTH)/raw --out $(SYNTH)/labeled
	$(CODI) data prepare --data $(SYNTH)

train-synth: release model ## Train the default model on the synthesized splits (after `make data-synthesize`)
	$(CODI) train --config configs/train/smollm2-135m-synth.yaml

data-clean: ## Remove the stage outputs (data/samples stays)
	rm -rf $(DATA)/raw $(DATA)/labeled $(DATA)/curated $(DATA)/pairs $(DATA)/splits

# Where data-push and data-pull sync the data tree: s3://bucket/prefix, with AWS_ACCESS_KEY_ID and
# AWS_SECRET_ACCESS_KEY set; for R2 also AWS_ENDPOINT_URL=https://<account>.r2.cloudflarestorage.com.
DATA_REMOTE ?=
data-push: release ## Push the data tree's stage outputs to DATA_REMOTE (s3://bucket/prefix; SYNC_ARGS=--dry-run …)
	$(CODI) data sync push --remote $(or $(DATA_REMOTE),$(error set DATA_REMOTE=s3://bucket/prefix)) --data $(DATA) $(SYNC_ARGS)

data-pull: release ## Pull DATA_REMOTE into the data tree, every sha256 verified before anything is replaced
	$(CODI) data sync pull --remote $(or $(DATA_REMOTE),$(error set DATA_REMOTE=s3://bucket/prefix)) --data $(DATA) $(SYNC_ARGS)
