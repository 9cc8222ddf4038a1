"""Benchmark name -> where its rows come from. Toy benchmarks come from the built world; a
local .jsonl/.json/.parquet path in RewardBench's row format works too."""
from __future__ import annotations

from pathlib import Path

from rlhf_eval.data.pairs import read_rows


def benchmark_path(name: str, toy: dict | None) -> Path:
    if toy is not None and name in toy.get("benchmarks", {}):
        return Path(toy["benchmarks"][name])
    path = Path(name)
    if path.suffix in (".jsonl", ".json", ".parquet"):
        if not path.is_file():
            raise FileNotFoundError(f"benchmark file {name} does not exist")
        return path
    raise ValueError(f"unknown benchmark '{name}'; use a toy benchmark or a RewardBench-format file")


def load_rows(name: str, toy: dict | None) -> list[dict]:
    rows = read_rows(benchmark_path(name, toy))
    for i, row in enumerate(rows, 1):
        for key in ("id", "prompt", "chosen", "rejected", "subset"):
            if key not in row:
                raise ValueError(f"{benchmark_path(name, toy)}: row {i}: field '{key}' missing")
    return rows


def benchmark_prompts(name: str, toy: dict | None) -> list[tuple[str, str]]:
    """(item id, first-turn prompt) of every item, for decontamination."""
    return [(str(r["id"]), r["prompt"]) for r in load_rows(name, toy)]
