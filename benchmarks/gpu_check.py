"""GPU figures, each in its own section so one failure does not lose the others:

1. the smoke recipe on this machine's device: wall time per node (from the run's manifests);
2. RM scoring throughput of a ~100M-parameter toy classifier in bf16 through our ClassifierScorer
   (length-bucketed batches), as a fraction of a bf16 matmul peak measured in the same run;
3. sampling tokens/s of a causal LM of the same size: our TransformersSampler, and vLLM where it
   is installed.

Run by benchmarks/gpu_check.sh on a lent GPU (about 5 minutes on one H200 is the budget). On a
machine without one, `--scale cpu` runs the same code at a small size, to check the script.
Under --out ($OUT) it leaves two files, summary.txt (all it prints) and smoke-log-tail.txt; the
smoke run itself goes to a scratch folder (--work). A figure it cannot take says NOT MEASURED.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import torch  # noqa: E402

SCALES = {  # hidden, layers, pairs (scoring), prompts (sampling), new tokens, matmul size
    "gpu": dict(hidden=768, layers=12, pairs=4096, prompts=256, new_tokens=128, matmul=8192, dtype="bfloat16"),
    "cpu": dict(hidden=128, layers=2, pairs=64, prompts=16, new_tokens=16, matmul=512, dtype="float32"),
}


def section(title):
    def wrap(fn):
        def run(*args):
            print(f"\n== {title}", flush=True)
            t = time.perf_counter()
            try:
                fn(*args)
            except Exception as exc:  # keep going: the GPU window is short
                print(f"   FAILED: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
            print(f"   ({time.perf_counter() - t:.0f} s)", flush=True)
        return run
    return wrap


def toy_model(out: Path, hidden: int, layers: int, causal: bool) -> Path:
    from transformers import LlamaConfig, LlamaForCausalLM, LlamaForSequenceClassification

    from rlhf_eval.toy.tokenizer import build_tokenizer
    tok = build_tokenizer(out)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=hidden, intermediate_size=hidden * 4,
                      num_hidden_layers=layers, num_attention_heads=max(1, hidden // 64),
                      max_position_embeddings=2048, num_labels=1, pad_token_id=tok.pad_token_id,
                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    torch.manual_seed(0)
    (LlamaForCausalLM if causal else LlamaForSequenceClassification)(cfg).save_pretrained(out)
    return out


def matmul_peak(n: int, dtype) -> float:
    device = "cuda" if torch.cuda.is_available() else "cpu"
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        torch.mm(a, b)
    sync()
    t = time.perf_counter()
    for _ in range(10):
        torch.mm(a, b)
    sync()
    return 2 * n ** 3 * 10 / (time.perf_counter() - t)


def sync():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


@section("1. smoke recipe, node times")
def smoke(args):
    # The run (hundreds of files) goes to a scratch folder, not under --out: only the summary and
    # the run's last log lines come back from a lent machine.
    root = Path(args.work) / "runs"
    env = os.environ | {"RLHF_EVAL_CACHE": str(Path(args.work) / "cache")}
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "rlhf_eval.cli", "run", "recipes/smoke.yaml", f"run_root={root}"],
                          env=env, capture_output=True, text=True)
    print(f"   rlhf-eval run recipes/smoke.yaml: rc {proc.returncode}, {time.perf_counter() - t:.0f} s")
    (Path(args.out) / "smoke-log-tail.txt").write_text("\n".join((proc.stdout + proc.stderr).splitlines()[-200:]))
    if proc.returncode:
        print("   " + "\n   ".join((proc.stderr or proc.stdout).strip().splitlines()[-5:]))
        return
    rows = []
    for manifest in sorted(root.glob("*/*/*/manifest.json")):
        m = json.loads(manifest.read_text())
        rows.append((m.get("duration_s") or 0.0, m["stage"], m.get("label", "")))
    for wall, stage, label in sorted(rows, reverse=True):
        print(f"   {wall:7.1f} s  {stage:14s} {label}")


@section("2. RM scoring throughput, toy classifier")
def scoring(args):
    sys.path.insert(0, str(Path(__file__).parent))
    from rm_scoring import flops_per_sequence, workload

    from rlhf_eval.rm.base import encode
    from rlhf_eval.rm.transformers_scorer import ClassifierScorer
    s = SCALES[args.scale]
    dtype = getattr(torch, s["dtype"])
    with tempfile.TemporaryDirectory() as tmp:
        path = toy_model(Path(tmp), s["hidden"], s["layers"], causal=False)
        scorer = ClassifierScorer(str(path), batch_size=64, max_length=512)
        scorer.model.to(dtype)
        prompts, chosen, rejected = workload(s["pairs"])
        p2, texts = prompts + prompts, chosen + rejected
        scorer.score(p2[:128], texts[:128])
        sync()
        lengths = [len(x) for x in encode(scorer.tok, p2, texts, scorer.max_length, response_mask=False).ids]
        body = sum(p.numel() for n, p in scorer.model.named_parameters() if "embed" not in n)
        useful = sum(flops_per_sequence(body, n, s["layers"], s["hidden"]) for n in lengths)
        t = time.perf_counter()
        scorer.score(p2, texts)
        sync()
        dt = time.perf_counter() - t
        peak = matmul_peak(s["matmul"], dtype)
    print(f"   {body / 1e6:.0f}M non-embedding parameters, {s['dtype']}, device {scorer.device}; "
          f"{len(texts)} sequences of {min(lengths)}-{max(lengths)} tokens (mean {sum(lengths) / len(lengths):.0f})")
    print(f"   {len(texts) / dt:,.0f} sequences/s, {sum(lengths) / dt:,.0f} tokens/s, useful {useful / dt / 1e12:.2f} "
          f"TFLOP/s = {useful / dt / peak:.1%} of the {s['dtype']} matmul peak ({peak / 1e12:.1f} TFLOP/s, "
          f"{s['matmul']}^3, same run)")


@section("3. sampling tokens/s, transformers and vLLM")
def sampling(args):
    from rlhf_eval.gen.transformers_backend import TransformersSampler
    from rlhf_eval.toy import task
    s = SCALES[args.scale]
    with tempfile.TemporaryDirectory() as tmp:
        path = toy_model(Path(tmp), s["hidden"], s["layers"], causal=True)
        import random
        rng = random.Random(0)
        prompts = [task.make_prompt(task.sample_letters(rng, 4, 9)) for _ in range(s["prompts"])]
        sampler = TransformersSampler(str(path), seed=0, batch_size=64)
        if s["dtype"] != "float32":
            sampler.model.to(getattr(torch, s["dtype"]))
        contexts = [sampler.render_chat([{"role": "user", "content": p}]) for p in prompts]
        sampler.sample(contexts[:8], 1, 8, [], block=0)
        sync()
        t = time.perf_counter()
        out = sampler.sample(contexts, 1, s["new_tokens"], [], block=1)
        sync()
        dt = time.perf_counter() - t
        tokens = sum(len(sampler.tok(x[0], add_special_tokens=False)["input_ids"]) for x in out)
        print(f"   transformers: {len(prompts)} prompts, up to {s['new_tokens']} new tokens: "
              f"{tokens / dt:,.0f} tokens/s ({tokens} tokens in {dt:.2f} s)")
        try:
            import vllm
        except ImportError:
            print("   vLLM: not installed here: NOT MEASURED (vLLM sampling, and every vLLM path of the project)")
            return
        llm = vllm.LLM(model=str(path), dtype=s["dtype"], seed=0, enforce_eager=False)
        params = vllm.SamplingParams(temperature=1.0, max_tokens=s["new_tokens"], ignore_eos=False)
        llm.generate(contexts[:8], params)
        t = time.perf_counter()
        res = llm.generate(contexts, params)
        dt = time.perf_counter() - t
        tokens = sum(len(r.outputs[0].token_ids) for r in res)
        print(f"   vLLM {vllm.__version__}: {tokens / dt:,.0f} tokens/s ({tokens} tokens in {dt:.2f} s)")


class Tee:
    """Print to the terminal and to summary.txt."""

    def __init__(self, *streams):
        self.streams = streams

    def write(self, text):
        for st in self.streams:
            st.write(text)
            st.flush()

    def flush(self):
        for st in self.streams:
            st.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", choices=sorted(SCALES), default="gpu" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--out", default=os.environ.get("OUT") or tempfile.mkdtemp(),
                    help="summary.txt and the smoke run's last log lines (what comes back from a lent machine)")
    ap.add_argument("--work", default=tempfile.mkdtemp(prefix="gpu_check-"),
                    help="scratch: the smoke run and its cache")
    ap.add_argument("--only", nargs="*", choices=["smoke", "scoring", "sampling"])
    args = ap.parse_args()
    Path(args.out).mkdir(parents=True, exist_ok=True)
    sys.stdout = Tee(sys.stdout, open(Path(args.out) / "summary.txt", "w"))
    name = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    print(f"device: {name}; torch {torch.__version__}; python {sys.version.split()[0]}; scale {args.scale}")
    for part in (args.only or ["scoring", "sampling", "smoke"]):
        {"smoke": smoke, "scoring": scoring, "sampling": sampling}[part](args)


if __name__ == "__main__":
    main()
