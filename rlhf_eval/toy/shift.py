"""The distribution-shift axis of the planted-truth study: preference pairs from another "policy
family" than the toy policy, mixed with the policy's own samples in planted shares.

- Off-policy pairs: the correct answer vs an error the SFT policy never makes (the letters in
  reverse order, or sorted letters none of which are in the prompt), plain or verbose.
- On-policy pairs: two of the policy's own samples for a fresh prompt (temperature 1), a right one
  chosen and a wrong one rejected by the gold verifier. The policy's wrong samples are near misses
  (a wrong letter count, a wrong order, another letter), which off-policy pairs never show an RM.

So an RM trained on more off-policy pairs separates gross errors as well or better (the
off-policy benchmark) and the policy's own mistakes worse (the on-policy benchmark, best-of-n and
RL on the toy policy). On-policy pairs need the policy, so this runs after its SFT; the on-policy
benchmark's prompts are reserved before it, with the other held-out prompts.

Measured in a probe (benchmarks/shift_probe.py, classifier RMs, 3 seeds): off-policy share 0 vs
1: off-policy benchmark 0.982 vs 0.998, on-policy benchmark 0.878 vs 0.792, best-of-16 on toy_sort
0.520 vs 0.290 (seed SD 0.035).
"""
from __future__ import annotations

import random
from collections.abc import Callable

from rlhf_eval.errors import UserError
from rlhf_eval.toy import task
from rlhf_eval.toy.sources import PromptPool, _pair

OFF_POLICY_ERRORS = ("reversed", "foreign")
SAMPLES = 8  # policy samples per prompt for an on-policy pair
MAX_NEW_TOKENS = 24


def source_name(share: float, noise: float) -> str:
    """shift-s050-q20: half off-policy pairs, 20% of labels flipped."""
    return f"shift-s{round(share * 100):03d}-q{round(noise * 100):02d}"


def offpolicy_wrong(answer: list[str], rng: random.Random) -> tuple[list[str], str]:
    """An error of a kind the toy policy does not make (it keeps the prompt's letters and mostly
    their order): every letter in reverse order, or sorted letters none of which are in the prompt."""
    if rng.random() < 0.5:
        return answer[::-1], "reversed"
    return sorted(rng.sample([c for c in task.LETTERS if c not in answer], len(answer))), "foreign"


def offpolicy_kind(prompt: str, response: str) -> str | None:
    """Which off-policy error `response` is ("reversed", "foreign"), or None."""
    found, letters = task.extract_answer(response), task.parse_letters(prompt)
    if found is None:
        return None
    found = found.split()
    if found == sorted(letters, reverse=True):
        return "reversed"
    foreign = len(found) == len(letters) and found == sorted(found) and not set(found) & set(letters)
    return "foreign" if foreign else None


def offpolicy_pair(prompt: str, rng: random.Random) -> tuple[str, str, str]:
    """(chosen, rejected, error kind) for `prompt`, both in one style."""
    style = rng.choice(("plain", "verbose"))
    answer = task.correct_answer(task.parse_letters(prompt))
    wrong, error = offpolicy_wrong(answer, rng)
    return task.render(answer, style), task.render(wrong, style), error


def onpolicy_pair(prompt: str, samples: list[str], rng: random.Random) -> tuple[str, str] | None:
    """(a right sample, a wrong sample) by the verifier; None when the samples are all right or all
    wrong. An empty sample (the policy stopped at once) is left out: the pair contract refuses it."""
    right, wrong = [], []
    for s in samples:
        if s.strip():
            (right if task.is_correct(prompt, s) else wrong).append(s)
    return (rng.choice(right), rng.choice(wrong)) if right and wrong else None


Sampler = Callable[[list[str]], list[list[str]]]  # prompts -> SAMPLES policy samples each


def onpolicy_rows(prompts: list[str], sample: Sampler, rng: random.Random, want: int) -> list[tuple[str, str, str]]:
    """(prompt, chosen, rejected) from the first `want` of `prompts` whose samples hold a right and a wrong one."""
    out = []
    for p, xs in zip(prompts, sample(prompts)):
        pair = onpolicy_pair(p, xs, rng)
        if pair is not None:
            out.append((p, *pair))
            if len(out) == want:
                break
    return out


def reserve(pool: PromptPool, rng: random.Random, study) -> tuple[list[dict], list[str]]:
    """Before the policy's SFT: the off-policy benchmark (it needs no policy) and the prompts of the
    on-policy one (three per pair wanted: some prompts give no pair), both kept out of SFT."""
    off = []
    for i in range(study.shift_bench_pairs):
        p = pool.take()
        chosen, rejected, error = offpolicy_pair(p, rng)
        off.append({"id": f"offpolicy-{i:05d}", "prompt": p, "chosen": chosen, "rejected": rejected, "group": error})
    return off, [pool.take() for _ in range(3 * study.shift_bench_pairs)]


def build(pool: PromptPool, rng: random.Random, study, bench_prompts: list[str],
          sample: Sampler) -> tuple[dict[str, list[dict]], list[dict]]:
    """After SFT: the shift sources (one per share x noise level) and the on-policy benchmark."""
    bench = onpolicy_rows(bench_prompts, sample, rng, study.shift_bench_pairs)
    if len(bench) < study.shift_bench_pairs:
        raise UserError(f"toy_world.study: the policy's samples gave {len(bench)} on-policy benchmark pairs from "
                        f"{len(bench_prompts)} prompts, fewer than shift_bench_pairs={study.shift_bench_pairs} (a "
                        "policy that is almost always right or almost always wrong gives few)")
    on_bench = [{"id": f"onpolicy-{i:05d}", "prompt": p, "chosen": c, "rejected": r}
                for i, (p, c, r) in enumerate(bench)]
    # One pool of on-policy pairs that every source draws from (the policy is the same for all);
    # off-policy pairs are fresh per source.
    on_pool: list[tuple[str, str, str]] = []
    while len(on_pool) < study.shift_pairs:
        need = study.shift_pairs - len(on_pool)
        got = onpolicy_rows([pool.take() for _ in range(need + need // 2 + 8)], sample, rng, need)
        if not got:
            raise UserError("toy_world.study: the policy's samples gave no on-policy pair (all right or all wrong)")
        on_pool += got
    made = {}
    for share in study.shift_shares:
        for noise in study.shift_noise_levels:
            name, rows = source_name(share, noise), []
            off = round(study.shift_pairs * share)
            for p, c, r in rng.sample(on_pool, study.shift_pairs - off):
                rows.append((p, c, r, {"policy": "on"}))
            for _ in range(off):
                p = pool.take()
                c, r, error = offpolicy_pair(p, rng)
                rows.append((p, c, r, {"policy": "off", "error": error}))
            rng.shuffle(rows)
            out = []
            for i, (p, c, r, meta) in enumerate(rows):
                if rng.random() < noise:
                    c, r, meta = r, c, meta | {"flipped": True}
                out.append(_pair(name, i, p, c, r, **meta))
            made[name] = out
    return made, on_bench
