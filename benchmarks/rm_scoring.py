"""RM scoring throughput: length-bucketed batches (what the harness does) against a naive loop
that scores one pair (chosen + rejected) per forward pass, and against batches padded to the
global maximum length, all on the same classifier RM in one process. Also reports the achieved
FLOP/s (useful tokens only) as a fraction of a float32 matmul peak measured in the same run.

Run: .venv/bin/python benchmarks/rm_scoring.py [--pairs 512] [--hidden 256] [--layers 4]
"""
from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

import torch  # noqa: E402

from rlhf_eval.rm.base import encode  # noqa: E402
from rlhf_eval.rm.padding import pad  # noqa: E402
from rlhf_eval.rm.transformers_scorer import ClassifierScorer  # noqa: E402
from rlhf_eval.toy import task  # noqa: E402
from rlhf_eval.toy.tokenizer import build_tokenizer  # noqa: E402


def make_rm(out: Path, hidden: int, layers: int) -> Path:
    from transformers import LlamaConfig, LlamaForSequenceClassification
    tok = build_tokenizer(out)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=hidden, intermediate_size=hidden * 8 // 3,
                      num_hidden_layers=layers, num_attention_heads=max(1, hidden // 64),
                      max_position_embeddings=1024, num_labels=1, pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    LlamaForSequenceClassification(cfg).save_pretrained(out)
    return out


def workload(n_pairs: int, seed: int = 0):
    """Prompts of 4-9 letters; responses of 10 to 250 letters, a wide spread as in real data."""
    rng = random.Random(seed)
    prompts, chosen, rejected = [], [], []
    for _ in range(n_pairs):
        prompts.append(task.make_prompt(task.sample_letters(rng, 4, 9)))
        for out in (chosen, rejected):
            k = rng.randint(10, 250)
            out.append(" ".join(rng.choices(task.LETTERS, k=k)))
    return prompts, chosen, rejected


def flops_per_sequence(n_params_body: int, length: int, layers: int, hidden: int) -> float:
    # 2 FLOPs per weight per token, plus QK^T and AV (2 * 2 * L^2 * hidden per layer).
    return 2 * n_params_body * length + 4 * layers * length * length * hidden


def matmul_peak(n: int = 1024, reps: int = 20) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(reps):
            torch.mm(a, b)
        best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 * reps / best


@torch.no_grad()
def naive(scorer, prompts, chosen, rejected) -> float:
    t = time.perf_counter()
    for p, c, r in zip(prompts, chosen, rejected):
        enc = encode(scorer.tok, [p, p], [c, r], scorer.max_length, response_mask=False)
        ids, mask = pad(enc.ids, scorer.tok.pad_token_id)
        scorer.model(input_ids=ids, attention_mask=mask)
    return time.perf_counter() - t


@torch.no_grad()
def global_pad(scorer, prompts, texts, batch_size) -> float:
    t = time.perf_counter()
    enc = encode(scorer.tok, prompts, texts, scorer.max_length, response_mask=False)
    width = max(len(x) for x in enc.ids)
    for i in range(0, len(enc.ids), batch_size):
        rows = enc.ids[i:i + batch_size]
        ids, mask = pad(rows + [[scorer.tok.pad_token_id] * width], scorer.tok.pad_token_id)
        scorer.model(input_ids=ids[:-1], attention_mask=mask[:-1])
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=512)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--batch-size", type=int, default=64)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = make_rm(Path(tmp), args.hidden, args.layers)
        scorer = ClassifierScorer(str(path), batch_size=args.batch_size, max_length=512)
        prompts, chosen, rejected = workload(args.pairs)
        p2, texts = prompts + prompts, chosen + rejected
        scorer.score(p2[:64], texts[:64])  # warm up
        lengths = [len(x) for x in encode(scorer.tok, p2, texts, scorer.max_length, response_mask=False).ids]
        body = sum(p.numel() for n, p in scorer.model.named_parameters() if "embed" not in n)
        useful = sum(flops_per_sequence(body, n, args.layers, args.hidden) for n in lengths)

        times = {"bucketed": [], "naive": [], "global_pad": []}
        for _ in range(3):  # interleaved, best of 3: this machine's timings are noisy
            t = time.perf_counter()
            scorer.score(p2, texts)
            times["bucketed"].append(time.perf_counter() - t)
            times["naive"].append(naive(scorer, prompts, chosen, rejected))
            times["global_pad"].append(global_pad(scorer, p2, texts, args.batch_size))
        peak = matmul_peak()
    best = {k: min(v) for k, v in times.items()}
    print(f"classifier RM: hidden {args.hidden}, {args.layers} layers, {body / 1e6:.2f}M non-embedding params; "
          f"{args.pairs} pairs, lengths {min(lengths)}-{max(lengths)} tokens (mean {sum(lengths) / len(lengths):.0f}); "
          f"torch threads {torch.get_num_threads()}")
    for k, v in best.items():
        print(f"  {k:10s} {v:7.2f} s  {args.pairs / v:8.1f} pairs/s  useful {useful / v / 1e9:6.2f} GFLOP/s")
    print(f"  length-bucketed vs one pair per batch: {best['naive'] / best['bucketed']:.2f}x")
    print(f"  length-bucketed vs padded to the global max: {best['global_pad'] / best['bucketed']:.2f}x")
    print(f"  matmul peak (float32 1024^3, same run): {peak / 1e9:.1f} GFLOP/s; "
          f"bucketed scoring reaches {useful / best['bucketed'] / peak:.1%} of it")


if __name__ == "__main__":
    main()
