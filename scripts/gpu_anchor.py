#!/usr/bin/env python3
"""The PyTorch + PEFT anchor of scripts/gpu-bench.sh, on the device's own torch/transformers/peft.

lora  MODEL_DIR: a LoRA step of the shape in MODEL_DIR/config.json built with from_config (bf16,
                 r 16, alpha 32, q/k/v/o/gate/up/down, dropout 0, AdamW lr 2e-4), batch x seq
                 random ids, loss on every token; WARMUP + STEPS steps, the median timed.
infer MODEL_DIR: prompt (512 tokens), decode (128 greedy tokens after 16) and scoring (5 x 200
                 tokens after a shared 300-token prompt, the prompt's KV cache reused).
Prints one JSON line. Loads nothing from a hub (HF_HUB_OFFLINE). Without CUDA it runs on the CPU
(the lavapipe smoke run of gpu-bench.sh checks this script that way).
"""
import argparse
import json
import os
import statistics
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def device_of(torch):
    return "cuda" if torch.cuda.is_available() else "cpu"


def model_of(directory, torch):
    from transformers import AutoConfig, AutoModelForCausalLM
    config = AutoConfig.from_pretrained(directory)
    return AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16).to(device_of(torch)), config


def synchronize(torch):
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed(torch, f):
    synchronize(torch)
    started = time.perf_counter()
    f()
    synchronize(torch)
    return time.perf_counter() - started


def lora(args, torch):
    from peft import LoraConfig, get_peft_model
    model, config = model_of(args.model, torch)
    if args.gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.enable_input_require_grads()
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules=targets))
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-4)
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(0, config.vocab_size, (args.batch, args.seq), generator=generator).to(device_of(torch))

    def step():
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(args.warmup):
        step()
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    times = [timed(torch, step) for _ in range(args.steps)]
    median = statistics.median(times)
    return {
        "mode": "lora", "batch": args.batch, "seq": args.seq, "step_s": median,
        "tokens_per_s": args.batch * args.seq / median,
        "peak_gib": torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None,
        "parameters": sum(p.numel() for p in model.parameters()),
    }


def infer(args, torch):
    model, config = model_of(args.model, torch)
    model.eval()
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(3, config.vocab_size, (1, 2300), generator=generator).to(device_of(torch))
    out = {"mode": "infer"}
    with torch.no_grad():
        def prompt():
            model(input_ids=ids[:, :512], use_cache=False, logits_to_keep=1)

        def decode():
            model.generate(ids[:, :16], max_new_tokens=128, min_new_tokens=128, do_sample=False)

        def short():
            model(input_ids=ids[:, :16], use_cache=True, logits_to_keep=1)

        def scoring():
            prefix = model(input_ids=ids[:, 1000:1300], use_cache=True)
            for i in range(5):
                cache = _copy_cache(prefix.past_key_values)
                candidate = ids[:, 1300 + 200 * i:1500 + 200 * i]
                logits = model(input_ids=candidate, past_key_values=cache).logits
                torch.log_softmax(logits.float(), -1)

        for name, f in [("prompt_s", prompt), ("short_s", short), ("decode_s", decode), ("score_s", scoring)]:
            f()
            out[name] = statistics.median(timed(torch, f) for _ in range(args.runs))
    out["decode_s"] -= out.pop("short_s")
    out["prompt_tokens_per_s"] = 512 / out["prompt_s"]
    out["decode_tokens_per_s"] = 128 / out["decode_s"]
    return out


def _copy_cache(cache):
    import copy
    return copy.deepcopy(cache)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["lora", "infer"])
    parser.add_argument("model")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq", type=int, default=512)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--gradient-checkpointing", action="store_true")
    args = parser.parse_args()
    import torch
    result = lora(args, torch) if args.mode == "lora" else infer(args, torch)
    name = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    result.update(torch=torch.__version__, device=name)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
