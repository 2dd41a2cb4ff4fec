# codi: the user's entry points. `make help` lists them.

# Builds persist between runs (and between CI runs on one machine) unless told otherwise.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/codi/target
CORPUS ?= ../shared/corpus
FUZZ_SECONDS ?= 600
CODI := $(CARGO_TARGET_DIR)/release/codi
SAMPLES := data/samples
OUT ?= out

.PHONY: help build release run test check fmt docs bench agreement fuzz

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: ## Debug build of the workspace
	cargo build --workspace

release: ## Optimized `codi` binary
	cargo build --release -p codi

run: release ## The main job on the embedded default: lint, analyze and rewrite the bundled sample projects
	@mkdir -p $(OUT)/analysis
	$(CODI) lint --no-fail --format sarif --output $(OUT)/lint.sarif $(SAMPLES)
	@for project in $(SAMPLES)/*/; do $(CODI) analyze --format json "$$project" > "$(OUT)/analysis/$$(basename $$project).json" || exit 1; done
	$(CODI) rewrite --out $(OUT)/rewrite $(SAMPLES)/*/
	@echo "reports in $(OUT)/: lint.sarif, analysis/<project>.json, rewrite/<project>/report.md"

test: ## All tests (the hadolint and BuildKit oracle tests need `.ci/run`'s Python tools)
	cargo test --workspace

check: ## Formatting and clippy, warnings as errors
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

fmt: ## Format the code
	cargo fmt --all

docs: release ## Regenerate docs/rules.md from the rules' doc comments
	$(CODI) rules --format markdown --output docs/rules.md

bench: release ## Lint throughput (with hadolint in the same run) and agreement with hadolint
	$(CODI) bench lint --corpus $(CORPUS) --compare-hadolint
	$(CODI) bench agreement --corpus $(CORPUS)

agreement: release ## Per-code precision/recall/F1 against hadolint's labels, with every disagreement
	$(CODI) bench agreement --corpus $(CORPUS) --disagreements

fuzz: ## Fuzz the parser for FUZZ_SECONDS (needs the nightly toolchain and cargo-fuzz)
	mkdir -p fuzz/corpus/parse
	cp crates/core/tests/fixtures/parser/*.Dockerfile crates/core/tests/fixtures/rules/*.Dockerfile fuzz/corpus/parse/
	cd fuzz && cargo +nightly fuzz run -O parse corpus/parse -- -max_total_time=$(FUZZ_SECONDS) -max_len=16384 -print_final_stats=1
