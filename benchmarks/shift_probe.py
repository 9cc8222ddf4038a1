"""A probe for the distribution-shift axis of the planted-truth study (issue 36), run before it was
built into the toy world (rlhf_eval/toy/shift.py, recipes/study-shift.yaml, with `--design gross`'s
pairs): do classifier RMs trained on off-policy pairs win an off-policy benchmark and lose
best-of-n on the toy policy's own samples? Kept to try other designs in one process.

Pairs are made here, in one process, from the quickstart's toy world:
- on-policy: the SFT policy's own samples (8 per fresh prompt), a right one vs a wrong one by the
  verifier;
- off-policy, `--design gross`: correct vs an error the policy never makes (the letters reversed,
  or sorted letters none of which are in the prompt); `--design order`: correct vs an order error
  with the letter count right (swap or misplace), which the policy does make.
Per training seed and share of off-policy pairs, a classifier RM is trained with TRL from the SFT
policy (2,000 pairs, 5 epochs) and measured on an off-policy benchmark (300 pairs of the design's
kind), an on-policy benchmark (300 pairs of policy samples on other prompts) and exact best-of-n on
toy_sort's 200 prompts x 16 samples. Prints each RM and the means over seeds.

Needs the quickstart's run: `make quickstart` first. About 2 minutes for 2 shares x 3 seeds.
Run: .venv/bin/python benchmarks/shift_probe.py [--run runs/quickstart] [--design gross] [--shares 0,1]
"""
from __future__ import annotations

import argparse
import os
import random
import tempfile
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import numpy as np  # noqa: E402

from rlhf_eval import store  # noqa: E402
from rlhf_eval.bon.estimator import per_prompt_best_of_n  # noqa: E402
from rlhf_eval.config import RMTrainConfig  # noqa: E402
from rlhf_eval.gen.transformers_backend import TransformersSampler  # noqa: E402
from rlhf_eval.pipeline import node_manifests  # noqa: E402
from rlhf_eval.rm.base import load_scorer  # noqa: E402
from rlhf_eval.rm.train_trl import train_classifier  # noqa: E402
from rlhf_eval.toy import task  # noqa: E402

LETTERS = "abcdefghijklmnopqrstuvwxyz"


def fresh_prompt(rng: random.Random) -> str:
    return task.make_prompt(task.sample_letters(rng, 4, 9))


def offpolicy_pair(rng: random.Random, design: str) -> dict:
    p = fresh_prompt(rng)
    ans = task.correct_answer(task.parse_letters(p))
    if design == "gross":
        wrong = ans[::-1] if rng.random() < 0.5 else sorted(rng.sample([c for c in LETTERS if c not in ans], len(ans)))
    else:
        wrong = task.corrupt(ans, "swap", rng) if rng.random() < 0.5 else task.misplace(ans, rng.choice(ans))
        if wrong == ans:  # misplacing a letter into its own place
            wrong = task.corrupt(ans, "swap", rng)
    style = rng.choice(("plain", "verbose"))
    return {"prompt": p, "chosen": task.render(ans, style), "rejected": task.render(wrong, style)}


def onpolicy_pairs(sampler, rng: random.Random, k: int, block: int) -> list[dict]:
    """k pairs of the policy's own samples: a right and a wrong one of the same fresh prompt."""
    prompts = [fresh_prompt(rng) for _ in range(3 * k)]
    out = []
    for p, xs in zip(prompts, sampler.sample([sampler.render_chat([{"role": "user", "content": p}]) for p in prompts],
                                             8, 24, ["<|end|>"], block=block)):
        good = [x for x in xs if task.is_correct(p, x)]
        bad = [x for x in xs if not task.is_correct(p, x)]
        if good and bad:
            out.append({"prompt": p, "chosen": rng.choice(good), "rejected": rng.choice(bad)})
        if len(out) == k:
            return out
    raise SystemExit(f"only {len(out)} on-policy pairs from {len(prompts)} prompts")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", type=Path, default=Path("runs/quickstart"))
    ap.add_argument("--design", choices=["gross", "order"], default="gross")
    ap.add_argument("--shares", default="0,1", help="shares of off-policy training pairs")
    ap.add_argument("--seeds", default="1,2,3")
    args = ap.parse_args()
    if not (args.run / "plan.json").is_file():
        raise SystemExit(f"{args.run}: no run here; run `make quickstart` first")
    toy = node_manifests(args.run, "toy_world")[0]["outputs"]
    policy = toy["policy"]
    sampler = TransformersSampler(policy, seed=0, batch_size=128)
    prompts = [r["prompt"] for r in store.read_jsonl(Path(toy["tasks_dir"]) / "toy_sort.jsonl")]
    pool = sampler.sample([sampler.render_chat([{"role": "user", "content": p}]) for p in prompts], 16, 24,
                          ["<|end|>"], block=0)
    flat_p = [p for p in prompts for _ in range(16)]
    flat_t = [x for xs in pool for x in xs]
    gold = np.array([[float(task.is_correct(p, x)) for x in xs] for p, xs in zip(prompts, pool)])
    print(f"toy policy on {len(prompts)} prompts x 16: pass@1 {gold.mean():.3f}, pass@16 {gold.max(1).mean():.3f}")
    rng = random.Random(11)
    off_bench = [offpolicy_pair(rng, args.design) for _ in range(300)]
    on_bench = onpolicy_pairs(sampler, rng, 300, 7)
    on_train = onpolicy_pairs(sampler, rng, 2000, 9)

    results: dict[float, list] = {}
    for seed in [int(s) for s in args.seeds.split(",")]:
        for share in [float(s) for s in args.shares.split(",")]:
            rng = random.Random(100 * seed + int(share * 10))
            k = int(2000 * share)
            data = [offpolicy_pair(rng, args.design) for _ in range(k)] + rng.sample(on_train, 2000 - k)
            rng.shuffle(data)
            rows = [dict(d, id=str(i), source="probe", meta={}) for i, d in enumerate(data)]
            trained = train_classifier(policy, rows, RMTrainConfig(epochs=5, batch_size=32, seed=seed),
                                       Path(tempfile.mkdtemp(prefix="shift-probe-")))
            scorer = load_scorer({"outputs": {"name": "probe", "kind": "classifier", "path": trained["path"],
                                              "backend": "transformers", "batch_size": 64, "max_length": 256}})

            def accuracy(bench):
                chosen = scorer.score([r["prompt"] for r in bench], [r["chosen"] for r in bench])
                rejected = scorer.score([r["prompt"] for r in bench], [r["rejected"] for r in bench])
                return float(np.mean(np.array(chosen) > np.array(rejected)))

            scores = np.array(scorer.score(flat_p, flat_t)).reshape(len(prompts), 16)
            row = (accuracy(off_bench), accuracy(on_bench), *(float(per_prompt_best_of_n(scores, gold, n).mean())
                                                             for n in (4, 16)))
            results.setdefault(share, []).append(row)
            print(f"seed {seed}, off-policy share {share:.2f}: off-policy bench {row[0]:.3f}, on-policy bench "
                  f"{row[1]:.3f}, best-of-4 {row[2]:.3f}, best-of-16 {row[3]:.3f}", flush=True)
    for share, rows in results.items():
        a = np.array(rows)
        sd = f" (SD over seeds {a[:, 3].std(ddof=1):.3f})" if len(a) > 1 else ""
        print(f"share {share:.2f}, mean of {len(a)}: off-policy bench {a[:, 0].mean():.3f}, on-policy bench "
              f"{a[:, 1].mean():.3f}, best-of-4 {a[:, 2].mean():.3f}, best-of-16 {a[:, 3].mean():.3f}{sd}")


if __name__ == "__main__":
    main()
