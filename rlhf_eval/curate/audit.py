"""Contamination audit: which training rows share an n-gram with which benchmark prompts."""
from __future__ import annotations

from pathlib import Path

from rlhf_eval.curate import steps
from rlhf_eval.curate.ngrams import NgramIndex
from rlhf_eval.data.pairs import DataError, first_user_turn, load_pairs, read_rows
from rlhf_eval.errors import UserError


def default_toy_world() -> dict | None:
    """The toy world built from the default config (the quickstart's), if it is in the cache."""
    from rlhf_eval import store
    from rlhf_eval.toy.wiring import cache_dir, default_world_key

    manifest = store.read_manifest(cache_dir(default_world_key()))
    return manifest["outputs"] if manifest else None


def bench_prompts(bench: str, prompt_column: str) -> list[tuple[str, str]]:
    """(item id, first-turn prompt) of a registered benchmark or a local file."""
    path = Path(bench)
    if path.suffix in (".jsonl", ".json", ".parquet"):
        rows = read_rows(path)
        out = []
        for i, row in enumerate(rows, 1):
            if prompt_column not in row:
                raise DataError(f"{path}: row {i}: field '{prompt_column}' missing (set --prompt-column)")
            out.append((str(row.get("id", i)), first_user_turn(row[prompt_column])))
        return out
    from rlhf_eval.bench.loading import benchmark_prompts
    toy = default_toy_world() if bench.startswith("toy_") else None
    if bench.startswith("toy_") and toy is None:
        raise UserError(f"benchmark '{bench}' lives in the toy world, which is not built yet: "
                         "run `rlhf-eval run recipes/quickstart.yaml` first")
    return [(i, first_user_turn(p)) for i, p in benchmark_prompts(bench, toy)]


def audit(data: list[str], benches: list[str], ngram: int = 13, prompt_column: str = "prompt") -> dict:
    pairs, bad_rows = [], []
    for path in data:
        pairs += load_pairs(path, Path(path).stem, on_bad_row="drop", dropped=bad_rows)
    report = {"ngram": ngram, "data": data, "rows": len(pairs), "unreadable_rows": len(bad_rows),
              "benchmarks": {}}
    for bench in benches:
        index = NgramIndex(ngram)
        index.add_all((prompt, item_id) for item_id, prompt in bench_prompts(bench, prompt_column))
        _, hits = steps.decontaminate(pairs, index)
        report["benchmarks"][bench] = {
            "overlapping_rows": len(hits),
            "rows": [{"id": h["id"], "source": h["source"], "matched": h["matched"]} for h in hits],
            "benchmark_items_hit": len({item for h in hits for item in h["matched"]}),
        }
    return report
