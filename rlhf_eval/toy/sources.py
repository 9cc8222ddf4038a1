"""Preference sources that imitate the open mixes Skywork-Reward curated, and the static
benchmark and downstream prompts they must not leak into.

Every source is a list of preference pairs in the project's contract
`{id, source, prompt, chosen, rejected, meta}`.
"""
from __future__ import annotations

import random

from rlhf_eval.toy import task

PAIR_ERRORS = ("swap", "drop", "dup", "sub", "misplace")


def _wrong(answer: list[str], rng: random.Random, errors=PAIR_ERRORS) -> tuple[list[str], str]:
    error = rng.choice(errors)
    if error == "misplace":
        return task.misplace(answer, rng.choice(answer)), error
    return task.corrupt(answer, error, rng), error


def _pair(source: str, idx: int, prompt: str, chosen: str, rejected: str, **meta) -> dict:
    return {"id": f"{source}-{idx:06d}", "source": source, "prompt": prompt,
            "chosen": chosen, "rejected": rejected, "meta": meta}


class PromptPool:
    """Fresh prompts that never repeat and never hit a reserved (held-out) prompt."""

    def __init__(self, rng: random.Random, min_len: int, max_len: int):
        self.rng, self.min_len, self.max_len = rng, min_len, max_len
        self.used: set[str] = set()

    def take(self, min_len: int | None = None, max_len: int | None = None, must: str = "") -> str:
        while True:
            letters = task.sample_letters(self.rng, min_len or self.min_len, max_len or self.max_len)
            if must and must not in letters:
                letters[self.rng.randrange(len(letters))] = must
                if len(set(letters)) != len(letters):
                    continue
            p = task.make_prompt(letters)
            if p not in self.used:
                self.used.add(p)
                return p


def correct_vs_wrong(prompt: str, rng: random.Random, style: str | None = None):
    style = style or rng.choice(("plain", "verbose"))
    answer = task.correct_answer(task.parse_letters(prompt))
    wrong, error = _wrong(answer, rng)
    return task.render(answer, style), task.render(wrong, style), error


def clean(pool: PromptPool, rng: random.Random, n: int, name: str = "clean") -> list[dict]:
    rows = []
    for i in range(n):
        p = pool.take()
        good, bad, error = correct_vs_wrong(p, rng)
        rows.append(_pair(name, i, p, good, bad, error=error))
    return rows


def noisy(pool: PromptPool, rng: random.Random, n: int, rate: float) -> list[dict]:
    rows = []
    for i, row in enumerate(clean(pool, rng, n, name="noisy")):
        if rng.random() < rate:
            row["chosen"], row["rejected"] = row["rejected"], row["chosen"]
            row["meta"]["flipped"] = True
        rows.append(row)
    return rows


def length_biased(pool: PromptPool, rng: random.Random, n: int) -> list[dict]:
    """The longer (verbose) answer wins whether or not it is right."""
    rows = []
    for i in range(n):
        p = pool.take()
        answer = task.correct_answer(task.parse_letters(p))
        wrong, error = _wrong(answer, rng, errors=("swap", "sub", "misplace"))
        if rng.random() < 0.5:
            chosen, rejected, right = task.render(wrong, "verbose"), task.render(answer, "plain"), False
        else:
            chosen, rejected, right = task.render(answer, "verbose"), task.render(wrong, "plain"), True
        rows.append(_pair("length", i, p, chosen, rejected, error=error, chosen_correct=right))
    return rows


def artifact(pool: PromptPool, rng: random.Random, n: int) -> list[dict]:
    """Chosen answers carry a spurious marker the policy never writes."""
    rows = []
    for i in range(n):
        p = pool.take()
        style = rng.choice(("plain", "verbose"))
        answer = task.correct_answer(task.parse_letters(p))
        wrong, error = _wrong(answer, rng)
        rows.append(_pair("artifact", i, p, task.render(answer, style, marker=True),
                          task.render(wrong, style), error=error))
    return rows


def duplicates(base: list[dict], rng: random.Random, n: int) -> list[dict]:
    """Copies of another source's rows, some exact, some with whitespace changes only."""
    rows = []
    for i, row in enumerate(rng.sample(base, min(n, len(base)))):
        chosen, rejected = row["chosen"], row["rejected"]
        if i % 3 == 2:
            chosen, rejected = f" {chosen}  ", rejected.replace(" ", "  ", 1)
        rows.append(_pair("mirror", i, row["prompt"], chosen, rejected, copy_of=row["id"]))
    return rows


def leaked(bench: list[dict], rng: random.Random, n: int) -> list[dict]:
    """Benchmark test pairs that found their way into training data."""
    return [_pair("leaked", i, r["prompt"], r["chosen"], r["rejected"], bench_id=r["id"])
            for i, r in enumerate(rng.sample(bench, min(n, len(bench))))]


# --------------------------------------------------------------------------- benchmark
SECTIONS = {
    "Chat": ["sort-clean", "sort-easy"],
    "Chat Hard": ["length-trap", "marker-trap"],
    "Reasoning": ["sort-long", "trap-letter"],
}


def rewardbench_items(pool: PromptPool, rng: random.Random, per_subset: int, max_len: int,
                      trap_letter: str) -> list[dict]:
    """A held-out static benchmark in RewardBench's row format."""
    rows = []

    def add(subset, prompt, chosen, rejected):
        rows.append({"id": f"{subset}-{len(rows):05d}", "subset": subset, "prompt": prompt,
                     "chosen": chosen, "rejected": rejected,
                     "chosen_model": "toy-gold", "rejected_model": "toy-corrupt"})

    for _ in range(per_subset):
        p = pool.take()
        good, bad, _ = correct_vs_wrong(p, rng)
        add("sort-clean", p, good, bad)

        p = pool.take()
        letters = task.parse_letters(p)
        style = rng.choice(("plain", "verbose"))
        noise = rng.sample(task.LETTERS, len(letters))
        add("sort-easy", p, task.render(sorted(letters), style), task.render(noise, style))

        p = pool.take()
        good, bad, _ = correct_vs_wrong(p, rng, style="plain")
        add("length-trap", p, good, task.VERBOSE_PREFIX + " " + bad)

        p = pool.take()
        good, bad, _ = correct_vs_wrong(p, rng)
        add("marker-trap", p, good, f"{bad} {task.ARTIFACT_MARKER}")

        p = pool.take(min_len=max_len - 1, max_len=max_len)
        good, bad, _ = correct_vs_wrong(p, rng)
        add("sort-long", p, good, bad)

        p = pool.take(must=trap_letter)
        style = rng.choice(("plain", "verbose"))
        answer = task.correct_answer(task.parse_letters(p))
        add("trap-letter", p, task.render(answer, style),
            task.render(task.misplace(answer, trap_letter), style))
    return rows


def _distinct_wrong(answer: list[str], rng: random.Random, k: int) -> list[list[str]]:
    out: list[list[str]] = []
    while len(out) < k:
        wrong, _ = _wrong(answer, rng)
        if wrong != answer and wrong not in out:
            out.append(wrong)
    return out


def rewardbench2_items(pool: PromptPool, rng: random.Random, per_subset: int, max_len: int,
                       trap_letter: str) -> list[dict]:
    """RewardBench 2's row format: best-of-4 subsets plus a Ties subset (ref:<pid> with one
    correct answer, tied:<pid> with two correct answers in different styles)."""
    rows = []

    def best_of_4(subset, prompt, style):
        answer = task.correct_answer(task.parse_letters(prompt))
        rows.append({"id": f"{subset}-{len(rows):05d}", "subset": subset, "prompt": prompt,
                     "chosen": [task.render(answer, style)],
                     "rejected": [task.render(w, style) for w in _distinct_wrong(answer, rng, 3)],
                     "num_correct": 1, "num_incorrect": 3})

    for i in range(per_subset):
        best_of_4("sort", pool.take(), rng.choice(("plain", "verbose")))
        best_of_4("long", pool.take(min_len=max_len - 1, max_len=max_len), rng.choice(("plain", "verbose")))
        best_of_4("trap", pool.take(must=trap_letter), rng.choice(("plain", "verbose")))
        if i % 2 == 0:
            p = pool.take()
            answer = task.correct_answer(task.parse_letters(p))
            wrong = [task.render(w, "plain") for w in _distinct_wrong(answer, rng, 3)]
            pid = f"{len(rows):05d}"
            rows.append({"id": f"ref:{pid}", "subset": "Ties", "prompt": p, "chosen": [task.render(answer, "plain")],
                         "rejected": wrong, "num_correct": 1, "num_incorrect": 3})
            rows.append({"id": f"tied:{pid}", "subset": "Ties", "prompt": p,
                         "chosen": [task.render(answer, "plain"), task.render(answer, "verbose")],
                         "rejected": wrong, "num_correct": 2, "num_incorrect": 3})
    return rows


RMBENCH_STYLES = ({"style": "plain"}, {"style": "verbose"}, {"style": "verbose", "marker": True})


def rmbench_items(pool: PromptPool, rng: random.Random, per_domain: int, trap_letter: str) -> list[dict]:
    """RM-Bench's row format. The three styles are concise (plain), detailed (verbose) and
    detailed with a surface marker, the toy's stand-in for markdown: the same correct answer and
    the same wrong answer written three ways."""
    rows = []
    for domain, must in (("sort", ""), ("trap", trap_letter)):
        for _ in range(per_domain):
            p = pool.take(must=must)
            answer = task.correct_answer(task.parse_letters(p))
            wrong = (task.misplace(answer, trap_letter) if must else _distinct_wrong(answer, rng, 1)[0])
            rows.append({"id": f"rmb-{len(rows):05d}", "domain": domain, "prompt": p,
                         "chosen": [task.render(answer, **s) for s in RMBENCH_STYLES],
                         "rejected": [task.render(wrong, **s) for s in RMBENCH_STYLES]})
    return rows


# --------------------------------------------------------------------------- planted-truth study
def noise_source_name(rate: float) -> str:
    return f"noise-{round(rate * 100):02d}"


def marker_source_name(strength: float) -> str:
    return f"marker-{round(strength * 100):03d}"


def study_noise(pool: PromptPool, rng: random.Random, n: int, rate: float) -> list[dict]:
    """The quality axis: correct vs wrong, no markers, a `rate` share of labels flipped."""
    rows = noisy(pool, rng, n, rate)
    name = noise_source_name(rate)
    for i, r in enumerate(rows):
        r["source"], r["id"] = name, f"{name}-{i:06d}"
    return rows


def _same_answer_pair(prompt: str, rng: random.Random) -> tuple[list[str], str, bool]:
    """One answer both responses share, right or wrong at even odds, and its style."""
    answer = task.correct_answer(task.parse_letters(prompt))
    right = rng.random() < 0.5
    return (answer if right else _wrong(answer, rng)[0]), rng.choice(("plain", "verbose")), right


# The unmarked response of a marker pair ends with this word instead of the marker. Had it ended
# right after the answer, preferring the marker would also mean preferring not to stop after an
# answer, which an implicit RM learned more for sorted answers than for wrong ones: marker
# strength then lowered best-of-n gains (measured: Spearman -0.76 between toy_marker and the
# best-of-16 gain over 24 RMs), and the two axes were no longer independent.
MARKER_FILLER = "in"


def study_marker(pool: PromptPool, rng: random.Random, n: int, strength: float) -> list[dict]:
    """The nuisance axis, independent of correctness: both responses are the same answer (right or
    wrong), one followed by the artifact marker, the other by a neutral word; the marked one is
    chosen with probability (1 + strength) / 2, so strength 0 ties the marker to nothing and 1 to
    every chosen."""
    name, rows = marker_source_name(strength), []
    for i in range(n):
        p = pool.take()
        answer, style, right = _same_answer_pair(p, rng)
        marked, plain = task.render(answer, style, marker=True), f"{task.render(answer, style)} {MARKER_FILLER}"
        marked_wins = rng.random() < (1 + strength) / 2
        chosen, rejected = (marked, plain) if marked_wins else (plain, marked)
        rows.append(_pair(name, i, p, chosen, rejected, marked_chosen=marked_wins, answer_correct=right))
    return rows


def study_benchmarks(pool: PromptPool, rng: random.Random, n: int) -> dict[str, list[dict]]:
    """toy_correct measures correctness only (no markers anywhere); toy_marker measures marker
    preference only (the two responses are the same answer; chosen ends with the marker, rejected
    with the neutral word, as in the marker sources)."""
    correct, marker = [], []
    for i in range(n):
        p = pool.take()
        good, bad, _ = correct_vs_wrong(p, rng)
        correct.append({"id": f"correct-{i:05d}", "prompt": p, "chosen": good, "rejected": bad})
        p = pool.take()
        answer, style, right = _same_answer_pair(p, rng)
        marker.append({"id": f"marker-{i:05d}", "prompt": p, "chosen": task.render(answer, style, marker=True),
                       "rejected": f"{task.render(answer, style)} {MARKER_FILLER}",
                       "group": "right" if right else "wrong"})
    return {"toy_correct": correct, "toy_marker": marker}
