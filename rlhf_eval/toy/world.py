"""Build the toy world once per seed and config, into the cache.

Layout of a built world (all paths absolute in its manifest):
  policy/                     SFT policy + tokenizer (safetensors, chat template)
  sources/<name>.jsonl        preference sources (clean, noisy, length, artifact, mirror, leaked)
  bench/toy_rewardbench.jsonl  static benchmark, RewardBench row format
  bench/toy_rewardbench2.jsonl RewardBench 2 row format (best-of-4 and Ties)
  bench/toy_rmbench.jsonl      RM-Bench row format (three styles per response)
  bench/toy_{correct,marker}.jsonl and sources/{noise,marker}-*.jsonl   with toy_world.study only
  bench/toy_{offpolicy,onpolicy}.jsonl and sources/shift-*.jsonl        with toy_world.study.shift_shares
  tasks/toy_sort.{yaml,jsonl} lm-eval task over local jsonl
"""
from __future__ import annotations

import contextlib
import random
from dataclasses import asdict
from pathlib import Path

import yaml

from rlhf_eval import store
from rlhf_eval.toy import shift, sources, task
from rlhf_eval.toy.policy import TRAP_LETTERS, PolicySpec

TASK_NAME = "toy_sort"
BENCH_NAME = "toy_rewardbench"


def task_yaml(data_file: Path, max_gen_toks: int = 24) -> dict:
    return {
        "task": TASK_NAME,
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str(data_file)}},
        "test_split": "test",
        "output_type": "generate_until",
        "doc_to_text": "{{prompt}}",
        "doc_to_target": "{{answer}}",
        "generation_kwargs": {"until": ["<|end|>", "\n"], "max_gen_toks": max_gen_toks,
                              "do_sample": False},
        # exact_match does not strip prefixes such as "the sorted letters are :"
        "filter_list": [{"name": "extract", "filter": [
            {"function": "regex", "regex_pattern": task.ANSWER_REGEX, "group_select": -1},
            {"function": "take_first"}]}],
        "metric_list": [{"metric": "exact_match", "aggregation": "mean", "higher_is_better": True}],
        "metadata": {"version": 1.0},
    }


def build_data(cfg, out: Path) -> dict:
    """Everything but the policy: cheap, deterministic from cfg.seed."""
    rng = random.Random(cfg.seed)
    pool = sources.PromptPool(rng, cfg.min_letters, cfg.max_letters)
    trap = TRAP_LETTERS[0]

    task_prompts = [pool.take() for _ in range(cfg.task_prompts)]
    task_rows = [{"id": f"toy_sort-{i:04d}", "prompt": p,
                  "answer": " ".join(task.correct_answer(task.parse_letters(p)))}
                 for i, p in enumerate(task_prompts)]
    bench = sources.rewardbench_items(pool, rng, cfg.bench_pairs_per_subset, cfg.max_letters, trap)
    held_out = set(pool.used)

    clean = sources.clean(pool, rng, cfg.clean_pairs)
    made = {
        "clean": clean,
        "noisy": sources.noisy(pool, rng, cfg.noisy_pairs, cfg.noise_rate),
        "length": sources.length_biased(pool, rng, cfg.length_pairs),
        "artifact": sources.artifact(pool, rng, cfg.artifact_pairs),
        "mirror": sources.duplicates(clean, rng, cfg.duplicate_pairs),
        "leaked": sources.leaked(bench, rng, cfg.leaked_pairs),
    }
    # Built after the sources from their own generator, so adding them left every earlier row as it was.
    extra_rng = random.Random(cfg.seed + 1)
    pool.rng = extra_rng
    benches = {BENCH_NAME: bench,
               "toy_rewardbench2": sources.rewardbench2_items(pool, extra_rng, cfg.bench_pairs_per_subset,
                                                              cfg.max_letters, trap),
               "toy_rmbench": sources.rmbench_items(pool, extra_rng, cfg.bench_pairs_per_subset, trap)}
    if cfg.study is not None:
        study_rng = random.Random(cfg.seed + 2)
        pool.rng = study_rng
        st = cfg.study
        benches |= sources.study_benchmarks(pool, study_rng, st.bench_pairs)
        for rate in st.noise_levels:
            made[sources.noise_source_name(rate)] = sources.study_noise(pool, study_rng, st.pairs, rate)
        for strength in st.marker_strengths:
            made[sources.marker_source_name(strength)] = sources.study_marker(pool, study_rng, st.marker_pairs,
                                                                               strength)
    shift_state = None
    if cfg.study is not None and cfg.study.shift_shares:
        shift_rng = random.Random(cfg.seed + 3)
        pool.rng = shift_rng
        benches["toy_offpolicy"], on_bench_prompts = shift.reserve(pool, shift_rng, cfg.study)
        shift_state = (pool, shift_rng, on_bench_prompts)
        held_out |= set(on_bench_prompts)
    held_out |= {r["prompt"] for name, rows in benches.items() if name != BENCH_NAME for r in rows}
    paths, bench_paths = write_rows(out, made, benches)
    task_data = out / "tasks" / f"{TASK_NAME}.jsonl"
    store.write_jsonl(task_data, task_rows)
    (out / "tasks" / f"{TASK_NAME}.yaml").write_text(yaml.safe_dump(task_yaml(task_data), sort_keys=False))
    return {
        "sources": paths,
        "benchmarks": bench_paths,
        "tasks_dir": str(out / "tasks"),
        "tasks": [TASK_NAME],
        "held_out_prompts": len(held_out),
        "counts": {k: len(v) for k, v in made.items()} | {n: len(b) for n, b in benches.items()}
        | {"task": len(task_rows)},
        "_held_out": held_out,
        "_shift": shift_state,
    }


def write_rows(out: Path, made: dict[str, list[dict]], benches: dict[str, list[dict]]) -> tuple[dict, dict]:
    """Sources into sources/, benchmarks into bench/; their paths by name."""
    paths = {}
    for name, rows in made.items():
        paths[name] = str(out / "sources" / f"{name}.jsonl")
        store.write_jsonl(Path(paths[name]), rows)
    bench_paths = {}
    for name, rows in benches.items():
        bench_paths[name] = str(out / "bench" / f"{name}.jsonl")
        store.write_jsonl(Path(bench_paths[name]), rows)
    return paths, bench_paths


def add_shift(cfg, out: Path, info: dict, state, bar) -> None:
    """The shift axis's sources and on-policy benchmark, from the saved policy's own samples."""
    from rlhf_eval.gen.transformers_backend import TransformersSampler

    pool, rng, bench_prompts = state
    sampler = TransformersSampler(info["policy"], seed=cfg.seed, batch_size=128)
    with bar("on-policy pairs: policy samples", None) as update:
        done = [0]

        def sample(prompts: list[str]) -> list[list[str]]:
            contexts = [sampler.render_chat([{"role": "user", "content": p}]) for p in prompts]
            got = sampler.sample(contexts, shift.SAMPLES, shift.MAX_NEW_TOKENS, ["<|end|>"],
                                 progress=lambda k, n: update(done[0] + k))
            done[0] += len(prompts)
            return got

        made, on_bench = shift.build(pool, rng, cfg.study, bench_prompts, sample)
    paths, bench_paths = write_rows(out, made, {"toy_onpolicy": on_bench})
    info["sources"] |= paths
    info["benchmarks"] |= bench_paths
    info["counts"] |= {k: len(v) for k, v in made.items()} | {"toy_onpolicy": len(on_bench)}


def no_bar(label: str, total):
    return contextlib.nullcontext(lambda done, total=None: None)


def build_world(cfg, out: Path, bar=no_bar) -> dict:
    """The world into `out`; `bar(label, total)` is a context manager giving a progress callback
    (the stage's ctx.bar)."""
    import torch

    from rlhf_eval.toy import policy as toy_policy
    from rlhf_eval.toy.tokenizer import build_tokenizer

    info = build_data(cfg, out)
    held_out = info.pop("_held_out")
    shift_state = info.pop("_shift")
    spec = PolicySpec(hidden=cfg.hidden, layers=cfg.layers, heads=cfg.heads, steps=cfg.sft_steps,
                      min_letters=cfg.min_letters, max_letters=cfg.max_letters)
    policy_dir = out / "policy"
    tok = build_tokenizer(policy_dir)
    torch.manual_seed(cfg.seed)
    model = toy_policy.new_model(spec, tok)
    with bar("SFT of the toy policy", cfg.sft_steps) as update:
        losses = toy_policy.sft_train(model, tok, spec, cfg.seed, held_out,
                                      progress=lambda step, total, loss: update(step))
    toy_policy.save_policy(model, tok, policy_dir)
    info.update(policy=str(policy_dir), policy_spec=asdict(spec),
                sft_final_loss=sum(losses[-50:]) / min(50, len(losses)))
    if shift_state is not None:
        add_shift(cfg, out, info, shift_state, bar)
    return info
