"""curate stage: load every source, check rows, then the recipe's steps in order; write the
curated pairs (a datasets Dataset and jsonl) and a funnel counting what each step removed, by
reason and source."""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass

from rlhf_eval import store
from rlhf_eval.bench.loading import benchmark_prompts
from rlhf_eval.config import CurateConfig, SourceConfig, from_params
from rlhf_eval.curate import steps
from rlhf_eval.curate.decide import EmptyAfterStep
from rlhf_eval.curate.features import DATA_STEPS
from rlhf_eval.curate.ngrams import NgramIndex
from rlhf_eval.data.pairs import first_user_turn, load_pairs, trl_rows
from rlhf_eval.errors import UserError
from rlhf_eval.toy.stage import resolve


@dataclass(frozen=True)
class Curated:
    """What the steps leave: the pairs, the rows they removed, the funnel's counts after each
    step, the removals counted by (step, reason, source), and events such as recycling."""
    pairs: list[dict]
    removed: list[dict]
    counts: list[dict]
    dropped: list[dict]
    events: list[dict]


def source_list(params: dict, toy: dict | None) -> list[SourceConfig]:
    """The recipe's sources (a node's `sources` param), or every toy source when it names none."""
    if params["sources"]:
        return [from_params(SourceConfig, s) for s in params["sources"]]
    if toy is None:
        raise UserError("the recipe names no sources and has no toy world")
    return [SourceConfig(name=name, path=f"toy:{name}") for name in toy["sources"]]


def load_all(sources: list[SourceConfig], toy: dict | None, on_bad_row: str, bad_rows: list) -> list[dict]:
    pairs = []
    for src in sources:
        pairs.extend(load_pairs(resolve(src.path, toy, "source"), src.name, on_bad_row, bad_rows,
                                columns=src.columns, split=src.split))
    return pairs


def benchmark_index(benchmarks: list[str], n: int, toy: dict | None) -> NgramIndex:
    index = NgramIndex(n)
    for bench in benchmarks:
        index.add_all((first_user_turn(prompt), f"{bench}:{item_id}")
                      for item_id, prompt in benchmark_prompts(bench, toy))
    return index


def _count(step: str, removed: list[dict]) -> list[dict]:
    return [{"step": step, "reason": reason, "source": source, "dropped": n}
            for (reason, source), n in sorted(Counter((d["reason"], d["source"]) for d in removed).items())]


def _runs(names: list[str]):
    """The steps in order, consecutive data steps grouped: their features are computed in one pass."""
    run: list[str] = []
    for name in names:
        if name in DATA_STEPS:
            run.append(name)
            continue
        if run:
            yield run
            run = []
        yield [name]
    if run:
        yield run


def data_settings(cfg: CurateConfig, names: list[str], toy: dict | None) -> steps.DataSettings:
    c = cfg.decontaminate
    return steps.DataSettings(
        near=(cfg.near_dedup.threshold, cfg.near_dedup.num_perm, cfg.near_dedup.shingle,
              cfg.near_dedup.minhash),
        index=benchmark_index(c.benchmarks, c.ngram, toy) if "decontaminate" in names else None,
        filter=(cfg.filter.min_tokens, cfg.filter.max_tokens, cfg.filter.drop_ties))


def run_steps(pairs: list[dict], cfg: CurateConfig, toy: dict | None, judge=None, bar=None) -> Curated:
    """Apply cfg.steps in order."""
    counts = [{"step": "input", "count": len(pairs), "by_source": steps.by_source(pairs)}]
    removed, dropped, events = [], [], []
    for run in _runs(cfg.steps):
        before = len(pairs)
        if run[0] in DATA_STEPS:
            results = steps.data_steps(pairs, run, data_settings(cfg, run, toy), compute=features_engine(cfg))
        else:
            results = [(run[0], *_other_step(run[0], pairs, cfg, judge, events))]
        for name, pairs, out in results:
            removed += out
            dropped += _count(name, out)
            counts.append({"step": name, "count": len(pairs), "by_source": steps.by_source(pairs)})
            if bar:
                bar(len(counts) - 1)
            if not pairs:
                reasons = ", ".join(f"{d['reason']} from {d['source']}: {d['dropped']}" for d in _count(name, out))
                raise EmptyAfterStep(f"curate: step '{name}' removed every remaining pair ({before} -> 0; {reasons})")
            before = len(pairs)
    return Curated(pairs, removed, counts, dropped, events)


def features_engine(cfg: CurateConfig):
    """How the data steps' features are computed: in this process, or on Ray Data."""
    if cfg.engine == "ray":
        from rlhf_eval.curate.ray_data import evidence
        return lambda *args: evidence(*args, blocks=cfg.ray_blocks)
    return lambda *args: steps.evidence(*args, threads=cfg.threads)


def _other_step(name: str, pairs: list[dict], cfg: CurateConfig, judge, events: list) -> tuple[list, list]:
    if name == "consistency":
        c = cfg.consistency
        pairs, out, recycled = steps.consistency(pairs, judge, c.threshold, c.recycle_above)
        events.append({"step": name, "event": "recycled (chosen and rejected swapped)", "count": recycled})
        return pairs, out
    if name == "retrieve":
        from rlhf_eval.curate.retrieve import error_driven
        c = cfg.retrieve
        seed = [p for p in pairs if p["source"] in c.seed_sources]
        if not seed:
            raise UserError(f"curate.retrieve: no remaining pair comes from seed_sources {c.seed_sources}")
        pool = [p for p in pairs if p["source"] not in c.seed_sources]
        got, out, records = error_driven(seed, pool, judge, c.embedder, c.k_max)
        events.append({"step": name, "event": "retrieved from the pool around uncertain seed pairs",
                       "count": len(got), "per_seed": records[:1000]})
        return seed + got, out
    if name == "select":
        c = cfg.select
        return steps.select_top(pairs, c.by, c.fraction, c.per_source, c.offsets, c.category_column)
    raise UserError(f"unknown curate step '{name}'")


def save_dataset(pairs: list[dict], path) -> list[str]:
    """A datasets Dataset that TRL's RewardTrainer and DPOTrainer take as saved: the conversational
    preference format, plus id, source and meta (JSON). `margin` and `label` are columns only
    when every row has one (TRL fails on a None margin). Returns the columns written."""
    from datasets import Dataset
    optional = tuple(k for k in ("margin", "label") if pairs and all(p.get(k) is not None for p in pairs))
    rows = [r | {"meta": json.dumps(r["meta"], sort_keys=True)}
            for r in trl_rows(pairs, keep=("id", "source", "meta") + optional)]
    ds = Dataset.from_list(rows)
    ds.save_to_disk(str(path))
    return ds.column_names


def resolved_sources(params: dict, toy: dict | None) -> list[tuple[str, str, dict | None, str]]:
    """(name, path, columns, split) of each source, toy sources resolved to their files."""
    return [(s.name, str(resolve(s.path, toy, "source")), s.columns, s.split) for s in source_list(params, toy)]


def on_ray(cfg: CurateConfig) -> bool:
    """Whether the Ray engine reads, decides and writes everything: its steps are all data steps.
    With a judge step (consistency, select, retrieve) the rows are held here, as for the local
    engine, and only the data steps' features are computed on Ray Data."""
    return cfg.engine == "ray" and all(name in DATA_STEPS for name in cfg.steps)


def run(ctx) -> dict:
    cfg = from_params(CurateConfig, ctx.params["curate"])
    toy = ctx.out("toy") if ctx.has("toy") else None
    names = [s.name for s in source_list(ctx.params, toy)]
    if on_ray(cfg):
        from rlhf_eval.curate.ray_engine import curate
        with ctx.bar("curating on Ray Data (count, read and check, decide, write)", 4) as update:
            out = curate(resolved_sources(ctx.params, toy), cfg.steps, data_settings(cfg, cfg.steps, toy),
                         cfg.on_bad_row, ctx.dir, cfg.ray_chunk_mb << 20, update)
        funnel = {k: out[k] for k in ("counts", "dropped", "events", "bad_rows")}
        store.atomic_write_json(ctx.dir / "funnel.json", funnel)
        return out | {"sources": names}
    judge = None
    if ctx.has("judge"):
        from rlhf_eval.rm.base import load_scorer
        judge = load_scorer(ctx.inputs["judge"])
    bad_rows: list[dict] = []
    pairs = load_all(source_list(ctx.params, toy), toy, cfg.on_bad_row, bad_rows)
    with ctx.bar(f"curating {len(pairs)} pairs", len(cfg.steps)) as update:
        result = run_steps(pairs, cfg, toy, judge, update)
    schema = _count("schema", bad_rows)
    funnel = {"counts": result.counts, "dropped": schema + result.dropped,
              "events": result.events, "bad_rows": bad_rows[:1000]}
    path = ctx.dir / "curated.jsonl"
    store.write_jsonl(path, result.pairs)
    columns = save_dataset(result.pairs, ctx.dir / "dataset")
    store.write_jsonl(ctx.dir / "dropped.jsonl", result.removed)
    store.atomic_write_json(ctx.dir / "funnel.json", funnel)
    return {"path": str(path), "dataset": str(ctx.dir / "dataset"), "dataset_columns": columns,
            "n_pairs": len(result.pairs), "dropped_rows": str(ctx.dir / "dropped.jsonl"),
            **funnel, "sources": names}
