"""Recall of the decontamination step on planted leaks, per perturbation, and its false positives
on clean rows (issue 30, item 16).

Benchmark prompts: the real JudgeBench questions in ../shared/data, plus two kinds of items made
from them: short prompts (the first 8 words of 100) and accented prompts (100 with every "e" as
"é", so that NFD differs from NFC). Clean training rows: the real RM-Bench chat and RMB prompts
there as prompts, and their responses as `chosen`; no benchmark item was made from them, so
what they share with JudgeBench by chance is a false positive. Each leak is one training row
whose prompt (or chosen response) is a benchmark item perturbed one way.

Run: .venv/bin/python benchmarks/contamination_recall.py [--json out.json]
(The same script, run with PYTHONPATH pointing at an older checkout, gives that version's numbers.)
"""
from __future__ import annotations

import argparse
import json
import random
import re
import unicodedata
from pathlib import Path

from rlhf_eval.curate import steps
from rlhf_eval.curate.ngrams import NgramIndex

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CYRILLIC = str.maketrans("aeopcxyiAEOPCXYHKMT", "аеорсхуіАЕОРСХУНКМТ")
GREEK = str.maketrans("aoivuA", "αοινυΑ")
FULL = {c: chr(ord(c) + 0xFEE0) for c in map(chr, range(0x21, 0x7F))}


def long_enough(texts) -> list[str]:
    """Distinct texts of at least 13 words, counted as letter-and-digit runs and as whitespace words
    (so that every version's index holds them as n-grams, not as short prompts)."""
    return sorted({t.strip() for t in texts if len(t.split()) >= 13 and len(re.findall(r"[^\W_]+", t)) >= 13})


def benchmark_prompts() -> list[str]:
    return long_enough(json.loads(line)["question"]
                       for line in open(DATA / "judgebench" / "judgebench_claude-3-5-sonnet-20240620.jsonl"))


def clean_prompts() -> list[str]:
    """Real prompts of other benchmarks (RM-Bench chat, RMB), which no benchmark item was made from."""
    out = [r["prompt"] for r in json.loads((DATA / "rm-bench" / "chat_filtered.json").read_text())]
    for f in sorted((DATA / "rmb").glob("*.json")):
        out += [t["content"] for r in json.loads(f.read_text()) for t in r["conversation_input"] if t["role"] == "user"]
    return long_enough(out)


def clean_responses() -> list[str]:
    """Real responses of those benchmarks (RM-Bench's chosen and rejected, RMB's answers): long
    texts in the same domains, none written from a JudgeBench question."""
    rows = json.loads((DATA / "rm-bench" / "chat_filtered.json").read_text())
    out = [x for r in rows for x in r["chosen"] + r["rejected"]]
    for f in sorted((DATA / "rmb").glob("pairwise_*.json")):
        out += [r[k]["answer"] for r in json.loads(f.read_text()) for k in ("chosen", "reject")]
    return long_enough(out)


def every_word(text: str, fn) -> str:
    return " ".join(fn(w) for w in text.split(" "))


def middle(w: str, mark: str) -> str:
    return w[:len(w) // 2] + mark + w[len(w) // 2:] if len(w) > 1 else w


PERTURB = {
    "identical": lambda t: t,
    "re-cased": str.upper,
    "re-spaced": lambda t: "  ".join(t.split()),
    "NBSP between words": lambda t: "\u00a0".join(t.split()),
    "newlines between words": lambda t: "\n".join(t.split()),
    "prefix and suffix": lambda t: "Please answer this: " + t + " Thanks in advance!",
    "zero-width space in every word": lambda t: every_word(t, lambda w: middle(w, "\u200b")),
    "soft hyphen in every word": lambda t: every_word(t, lambda w: middle(w, "\u00ad")),
    "full-width letters": lambda t: "".join(FULL.get(c, c) for c in t),
    "Cyrillic look-alikes": lambda t: t.translate(CYRILLIC),
    "Greek look-alikes": lambda t: t.translate(GREEK),
    "NFD instead of NFC": lambda t: unicodedata.normalize("NFD", t),
    "a comma after every word": lambda t: ", ".join(t.split()),
}


def row(i, prompt, chosen="I can help with that.", rejected="No."):
    return {"id": str(i), "source": "train", "prompt": prompt, "chosen": chosen, "rejected": rejected, "meta": {}}


def measure(n: int = 13, seed: int = 0) -> dict:
    bench, clean = benchmark_prompts(), clean_prompts()
    random.Random(seed).shuffle(bench)
    short = [" ".join(p.split()[:8]) for p in bench[:100]]
    accented = [p.replace("e", "é") for p in bench[:100]]
    index = NgramIndex(n)
    for kind, items in (("b", bench), ("s", short), ("a", accented)):
        for i, p in enumerate(items):
            index.add(p, f"{kind}{i}")  # (one by one: versions before add_all run this script too)
    responses = clean_responses()
    _, hits = steps.decontaminate([row(f"clean{i}", p) for i, p in enumerate(clean)] +
                                  [row(f"resp{i}", "Explain.", chosen=r) for i, r in enumerate(responses)], index)
    out = {"benchmark_items": len(bench) + len(short) + len(accented), "clean_rows": len(clean) + len(responses),
           "false_positives": len(hits), "recall": {}}
    for name, fn in PERTURB.items():
        sources = accented if name.startswith("NFD") else bench[:200]
        planted = {"long prompt": [row(f"l{i}", fn(p)) for i, p in enumerate(sources)],
                   "short prompt": [row(f"s{i}", fn(p)) for i, p in enumerate(short)],
                   "in chosen": [row(f"c{i}", "Explain.", chosen=fn(p)) for i, p in enumerate(sources)]}
        out["recall"][name] = {}
        for where, rows in planted.items():
            _, caught = steps.decontaminate(rows, index)
            out["recall"][name][where] = round(len(caught) / len(rows), 3)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    if not DATA.is_dir():
        raise SystemExit(f"{DATA} is absent: the real benchmark samples are needed")
    res = measure()
    print(f"{res['benchmark_items']} benchmark items; false positives on {res['clean_rows']} clean rows: "
          f"{res['false_positives']}")
    print(f"{'perturbation':34s} {'long prompt':>12s} {'short prompt':>13s} {'in chosen':>10s}")
    for name, r in res["recall"].items():
        print(f"{name:34s} {r['long prompt']:12.3f} {r['short prompt']:13.3f} {r['in chosen']:10.3f}")
    if args.json:
        args.json.write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
