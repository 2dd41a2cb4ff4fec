#!/usr/bin/env bash
# The GPU benchmark in one device call (issue 16): codi's QLoRA step on the Qwen2.5-Coder-1.5B
# shape and prompt/decode/scoring on the SmolLM2-135M shape, on wgpu, beside the device's own
# PyTorch + PEFT on the same shapes; one table with ratios.
#
#   scripts/gpu-bench.sh prepare   here: a stripped `--features wgpu` release binary, the
#                                  default model's tokenizer and the Vulkan loader debs, into
#                                  .gpu/ and .gl/ (both carried: building on the device wastes
#                                  its minutes, and the 98 MB GGUF is over the carry limit)
#   scripts/gpu-bench.sh run       on the device (or here, on Mesa's lavapipe, with SMALL=1)
#
# The device call: run(command="scripts/gpu-bench.sh run", carry=[".gpu", ".gl"], timeout_s=480)
# Settings (environment): SHAPE (qwen2.5-coder-1.5b), BATCH (8), SEQ (512), STEPS (3),
# DEVICE (wgpu), RUNS (3, per inference figure), PYTHON (the anchor's, python3); SMALL=1 is the
# lavapipe smoke run: smollm2-135m, batch 1 × 32, 1 step, 1 run (the anchor then runs on the CPU).
set -euo pipefail
cd "$(dirname "$0")/.."

prepare() {
    local target="${CARGO_TARGET_DIR:-target}"
    cargo build --release --locked -p codi --features wgpu
    mkdir -p .gpu/tokenizer .gl
    strip -o .gpu/codi "$target/release/codi"
    local scratch
    scratch="$(mktemp -d)"
    # The tokenizer files of the default model, as `codi model synth` writes them.
    .gpu/codi model synth --shape smollm2-135m --out "$scratch/smollm2"
    cp "$scratch/smollm2/tokenizer.json" "$scratch/smollm2/tokenizer_config.json" .gpu/tokenizer/
    rm -rf "$scratch"
    # The Vulkan loader and GL dispatch libraries (the device tool's README).
    local apt=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64)
    mkdir -p /tmp/amd64/partial
    apt-get "${apt[@]}" update -qq
    (cd .gl && apt-get "${apt[@]}" download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
    du -sh .gpu .gl
}

# The first number after `label` in file `file`.
figure() { grep -m1 "$2" "$1" | grep -oE "$3" | grep -oE '[0-9.]+' | head -1; }

run() {
    local bin=.gpu/codi device="${DEVICE:-wgpu}" work="${WORK:-/tmp/codi-gpu-bench}"
    local shape="${SHAPE:-qwen2.5-coder-1.5b}" batch="${BATCH:-8}" seq="${SEQ:-512}" steps="${STEPS:-3}"
    local runs="${RUNS:-3}"
    if [[ "${SMALL:-0}" == 1 ]]; then shape=smollm2-135m batch=1 seq=32 steps=1 runs=1; fi
    if ! ldconfig -p | grep -q libvulkan.so.1; then
        for f in .gl/*.deb; do dpkg -x "$f" /; done
        ldconfig
    fi
    if [[ -e /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]]; then
        export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
    fi
    mkdir -p "$work"
    local train_model="$work/$shape" infer_model="$work/smollm2-135m"
    for model in "$train_model" "$infer_model"; do
        [[ -f "$model/config.json" ]] || "$bin" model synth --shape "$(basename "$model")" \
            --tokenizer .gpu/tokenizer/tokenizer.json --out "$model"
    done

    # GPU memory: the most nvidia-smi saw while each run ran.
    local memory_log="$work/memory.txt"
    watch_memory() {
        : >"$memory_log"
        command -v nvidia-smi >/dev/null || return 0
        (while sleep 0.5; do nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits; done) \
            >>"$memory_log" 2>/dev/null &
        echo $!
    }
    peak_memory() { sort -n "$memory_log" 2>/dev/null | tail -1 | awk '{ printf "%.1f", $1 / 1024 }'; }

    local watcher
    watcher="$(watch_memory)"
    "$bin" bench train --model "$train_model" --nf4 --device "$device" --batch "$batch" --seq "$seq" \
        --steps "$steps" --gradient-checkpointing 2>&1 | tee "$work/codi-train.txt"
    if [[ -n "$watcher" ]]; then kill "$watcher"; fi
    local codi_train_gib
    codi_train_gib="$(peak_memory)"
    "$bin" bench model --model "$infer_model" --nf4 --device "$device" --runs "$runs" 2>&1 | tee "$work/codi-infer.txt"

    local torch_train='{}' torch_infer='{}'
    local python="${PYTHON:-python3}"
    if "$python" -c 'import torch, transformers, peft' 2>/dev/null; then
        torch_train="$("$python" scripts/gpu_anchor.py lora "$train_model" --batch "$batch" --seq "$seq" \
            --steps "$((steps + 2))" --gradient-checkpointing | tail -1)"
        torch_infer="$("$python" scripts/gpu_anchor.py infer "$infer_model" | tail -1)"
    else
        echo "no torch/transformers/peft here: the anchor columns stay empty"
    fi
    echo "$torch_train" >"$work/torch-train.json"
    echo "$torch_infer" >"$work/torch-infer.json"

    CODI_STEP="$(figure "$work/codi-train.txt" 'train step:' 'step: [0-9.]+')" \
    CODI_TRAIN_TPS="$(figure "$work/codi-train.txt" 'train step:' '[0-9.]+ tokens/s')" \
    CODI_TRAIN_GIB="$codi_train_gib" \
    CODI_PROMPT_TPS="$(figure "$work/codi-infer.txt" 'prompt processing' '[0-9.]+ tokens/s')" \
    CODI_DECODE_TPS="$(figure "$work/codi-infer.txt" 'decode, 128' '[0-9.]+ tokens/s')" \
    CODI_SCORE_S="$(figure "$work/codi-infer.txt" 'score 5 candidates' 'prompt: [0-9.]+ s')" \
    SHAPE="$shape" BATCH="$batch" SEQ="$seq" WORK="$work" python3 - <<'EOF'
import json, os
env = os.environ
torch_train = json.load(open(f"{env['WORK']}/torch-train.json"))
torch_infer = json.load(open(f"{env['WORK']}/torch-infer.json"))
codi = lambda key: float(env[key]) if env.get(key) else None
tokens = int(env["BATCH"]) * int(env["SEQ"])
# Frozen base: forward (2N) and input gradients (2N) per token; the LoRA weights are negligible.
parameters = {"qwen2.5-coder-1.5b": 1_543_714_304, "smollm2-135m": 134_515_008}[env["SHAPE"]]
mfu = lambda tps: None if tps is None else 4 * parameters * tps / 790e12
rows = [
    (f"QLoRA step {env['SHAPE']} {env['BATCH']}×{env['SEQ']} (s)", codi("CODI_STEP"), torch_train.get("step_s"), "lower"),
    ("  tokens/s", codi("CODI_TRAIN_TPS"), torch_train.get("tokens_per_s"), "higher"),
    ("  MFU (4·N·tokens/s of 790 TFLOP/s)", mfu(codi("CODI_TRAIN_TPS")), mfu(torch_train.get("tokens_per_s")), "higher"),
    ("  GPU memory (GiB; codi: nvidia-smi, torch: allocator peak)", codi("CODI_TRAIN_GIB"), torch_train.get("peak_gib"), "lower"),
    ("prompt 512, smollm2-135m (tokens/s)", codi("CODI_PROMPT_TPS"), torch_infer.get("prompt_tokens_per_s"), "higher"),
    ("decode 128 (tokens/s)", codi("CODI_DECODE_TPS"), torch_infer.get("decode_tokens_per_s"), "higher"),
    ("score 5×200 after 300 (s)", codi("CODI_SCORE_S"), torch_infer.get("score_s"), "lower"),
]
show = lambda v: "—" if v is None else (f"{v:.4f}" if v < 1 else f"{v:,.2f}")
print(f"\ncodi (wgpu, NF4/packed on the device) against PyTorch + PEFT (bf16, {torch_train.get('torch', 'absent')}, {torch_train.get('device', '')})")
print("| task | codi | torch | codi / torch |\n|---|---:|---:|---:|")
for name, ours, theirs, better in rows:
    ratio = "—" if ours is None or not theirs else f"{ours / theirs:.2f}× ({better} is better)"
    print(f"| {name} | {show(ours)} | {show(theirs)} | {ratio} |")
EOF
}

case "${1:-}" in
    prepare) prepare ;;
    run) run ;;
    *) echo "usage: $0 prepare|run" >&2; exit 2 ;;
esac
