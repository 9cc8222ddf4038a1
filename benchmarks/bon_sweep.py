"""A best-of-n sweep (3 RMs x n in {1, 2, 4, 8, 16}) on the toy policy, in one process:

- ours: sample N_max = 16 candidates per prompt once, score every distinct candidate once per RM
  (bon_score's score_distinct: a copy takes its original's score), and read every n off the same
  scores with the exact order-statistics estimator; the two implicit RMs share their reference's
  log-probs (rm/reference_logprobs.py, in a cache made empty for this run);
- ours without the shared reference: the same, each implicit RM running the reference itself;
- naive (what rejection-sampling scripts do): for every RM and every n, sample n fresh candidates
  per prompt, score them, keep the top one.

It prints the ratios of wall time (naive / each of ours) and of sampled tokens, then the variance of the exact estimator
against one random n-subset per prompt on the same 16 samples (the same sampling budget).
Both ways judge a pick with the toy task's verifier (lm-eval's metric for toy_sort is the same
check), so the timing compares sampling and scoring, not the harness.

Needs the quickstart's run (RMs and toy world): `make quickstart` first.
Run: .venv/bin/python benchmarks/bon_sweep.py [--run runs/quickstart] [--prompts 200] [--repeats 3]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import numpy as np  # noqa: E402

from rlhf_eval import store  # noqa: E402
from rlhf_eval.bon.estimator import per_prompt_best_of_n  # noqa: E402
from rlhf_eval.bon.score_stage import score_distinct  # noqa: E402
from rlhf_eval.gen.transformers_backend import TransformersSampler  # noqa: E402
from rlhf_eval.pipeline import node_manifests  # noqa: E402
from rlhf_eval.rm.base import load_scorer  # noqa: E402
from rlhf_eval.rm.reference_logprobs import ReferenceLogprobs, reference_fingerprint  # noqa: E402
from rlhf_eval.toy import task  # noqa: E402

RMS = ("dpo-curated", "classifier-curated", "dpo-raw")
GRID = (1, 2, 4, 8, 16)


def load_run(run: Path):
    toy = node_manifests(run, "toy_world")[0]["outputs"]
    # An RM trained with several seeds has a node per seed: the first seed's stands for it.
    trained = node_manifests(run, "train_rm")
    rms = {rm: next(m for m in trained if m["outputs"]["name"] == rm) for rm in RMS}
    return toy, rms


def count_tokens(tok, texts) -> int:
    return sum(len(ids) for ids in tok(texts, add_special_tokens=False)["input_ids"])


def run_naive(scorers, sampler, contexts, prompts, gold):
    """Fresh samples for every (RM, n), scored, the top one kept: what rejection-sampling scripts do."""
    naive, tok_naive = {}, 0
    for i, (rm, scorer) in enumerate(scorers.items()):
        naive[rm] = {}
        for n in GRID:
            fresh = sampler.sample(contexts, n, 24, ["<|end|>"], block=1 + i * 100 + n)
            texts = [x for xs in fresh for x in xs]
            tok_naive += count_tokens(sampler.tok, texts)
            s = np.array(scorer.score([p for p in prompts for _ in range(n)], texts)).reshape(len(prompts), n)
            picks = [xs[int(np.argmax(row))] for xs, row in zip(fresh, s)]
            naive[rm][n] = float(gold(picks).mean())
    return naive, tok_naive


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", type=Path, default=Path("runs/quickstart"))
    ap.add_argument("--prompts", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3, help="runs of each way, interleaved; the best counts")
    args = ap.parse_args()
    if not (args.run / "plan.json").is_file():
        raise SystemExit(f"{args.run}: no run here; run `make quickstart` first")
    toy, rm_manifests = load_run(args.run)
    rows = store.read_jsonl(Path(toy["tasks_dir"]) / "toy_sort.jsonl")[: args.prompts]
    prompts = [r["prompt"] for r in rows]
    sampler = TransformersSampler(toy["policy"], seed=0, batch_size=64)
    contexts = [sampler.render_chat([{"role": "user", "content": p}]) for p in prompts]
    os.environ["RLHF_EVAL_CACHE"] = tempfile.mkdtemp(prefix="bon-sweep-cache-")  # nothing cached before
    scorers = {rm: load_scorer(m) for rm, m in rm_manifests.items()}
    unshared = {rm: load_scorer(m) for rm, m in rm_manifests.items()}
    for scorer in unshared.values():
        scorer.ref_cache = None
    n_max = max(GRID)

    def gold(texts):
        return np.array([float(task.is_correct(p, t)) for p, t in zip(prompts, texts)])

    def sweep(scorers):
        """One pool, every RM scores it once, every n from the same scores."""
        pool = sampler.sample(contexts, n_max, 24, ["<|end|>"], block=0)
        flat_t = [x for texts in pool for x in texts]
        G = np.array([[float(task.is_correct(p, x)) for x in texts] for p, texts in zip(prompts, pool)])
        out, raw = {}, {}
        for rm, scorer in scorers.items():
            S = raw[rm] = np.array(score_distinct(scorer, flat_p, flat_t)[0]).reshape(len(prompts), n_max)
            out[rm] = {n: float(per_prompt_best_of_n(S, G, n).mean()) for n in GRID}
        return out, flat_t, G, raw

    flat_p = [p for p in prompts for _ in range(n_max)]
    t_ours = t_unshared = t_naive = float("inf")
    for _ in range(args.repeats):  # interleaved; the best time of each counts
        t = time.perf_counter()
        naive, tok_naive = run_naive(unshared, sampler, contexts, prompts, gold)  # every reference run, as scripts do
        t_naive = min(t_naive, time.perf_counter() - t)
        times = [time.perf_counter() - t]
        t = time.perf_counter()
        _, _, _, raw_unshared = sweep(unshared)
        t_unshared_now = time.perf_counter() - t
        t_unshared = min(t_unshared, t_unshared_now)
        empty = Path(tempfile.mkdtemp(prefix="bon-sweep-cache-"))  # an empty cache each time
        for scorer in scorers.values():
            if getattr(scorer, "ref_cache", None) is not None:
                dtype = scorer.ref_cache.path.stem.rsplit("-", 1)[1]
                scorer.ref_cache = ReferenceLogprobs(reference_fingerprint(scorer.reference), dtype, empty)
        t = time.perf_counter()
        ours, flat_t, G, raw = sweep(scorers)
        t_ours = min(t_ours, time.perf_counter() - t)
        print(f"  repeat: naive {times[-1]:.1f} s, ours without sharing {t_unshared_now:.1f} s, ours "
              f"{time.perf_counter() - t:.1f} s", flush=True)
    hits = [(s.ref_cache.hits, s.ref_cache.hits + s.ref_cache.misses) for s in scorers.values()
            if getattr(s, "ref_cache", None) is not None]
    gap = max(float(np.abs(raw[rm] - raw_unshared[rm]).max()) for rm in RMS)
    assert gap < 1e-4, f"the shared reference changed a score by {gap}"
    tok_ours = count_tokens(sampler.tok, flat_t)


    print(f"{len(prompts)} prompts, RMs {', '.join(RMS)}, n in {list(GRID)}")
    print(f"{'rm':20s} " + " ".join(f"n={n:<2d} ours/naive" for n in GRID))
    for rm in RMS:
        print(f"{rm:20s} " + " ".join(f"{ours[rm][n]:.3f}/{naive[rm][n]:.3f}  " for n in GRID))
    print(f"wall time: naive {t_naive:.1f} s; ours {t_ours:.1f} s -> {t_naive / t_ours:.2f}x; ours without the "
          f"shared reference {t_unshared:.1f} s -> {t_naive / t_unshared:.2f}x (scores within {gap:.1e}); "
          f"reference log-probs read from the cache, per implicit RM: {hits}")
    print(f"sampled tokens: ours {tok_ours}, naive {tok_naive} -> {tok_naive / tok_ours:.2f}x")

    # Variance at equal samples (the same 16 per prompt). For a 0/1 gold value, one random
    # n-subset's pick is Bernoulli(e_p) given the pool, where e_p is the exact per-prompt value, so
    # the subset estimator adds sum_p e_p (1 - e_p) / P^2 to the exact estimator's variance.
    # Both parts are measured: the pool's variance by bootstrap over prompts, the extra term by
    # Monte Carlo over random subsets (and checked against the formula).
    rng = np.random.default_rng(0)
    S = np.array(scorers[RMS[0]].score(flat_p, flat_t)).reshape(len(prompts), n_max)
    print(f"every candidate scored against each distinct one scored once ({RMS[0]}): scores within "
          f"{float(np.abs(S - raw[RMS[0]]).max()):.1e}; {len(set(zip(flat_p, flat_t)))} of {len(flat_t)} distinct")
    print(f"variance at equal samples ({RMS[0]}, {n_max} samples per prompt):")
    for n in GRID[1:-1]:
        e = per_prompt_best_of_n(S, G, n)
        boot = [e[rng.integers(0, len(e), len(e))].mean() for _ in range(2000)]
        var_exact = float(np.var(boot))
        draws = []
        for _ in range(2000):
            picks = []
            for s, g in zip(S, G):
                sub = rng.choice(n_max, size=n, replace=False)
                top = sub[s[sub] == s[sub].max()]
                picks.append(g[rng.choice(top)])
            draws.append(np.mean(picks))
        extra_mc = float(np.var(draws))
        extra_formula = float((e * (1 - e)).sum() / len(e) ** 2)
        print(f"  n={n:2d}: exact {var_exact:.2e}; one random subset {var_exact + extra_mc:.2e} "
              f"({(var_exact + extra_mc) / var_exact:.2f}x; subset noise {extra_mc:.2e}, formula {extra_formula:.2e})")


if __name__ == "__main__":
    main()
