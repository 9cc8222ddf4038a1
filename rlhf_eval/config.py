"""Typed recipe, RM-card and policy-card configs: OmegaConf over dataclasses.

Each dataclass here is the only place a default lives. `load_recipe` reads the YAML, applies
`key=value` overrides, rejects unknown keys naming the closest valid one, checks types and
choices, and resolves card names to cards.
"""
from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, Optional, get_args, get_origin, get_type_hints

import yaml
from omegaconf import MISSING, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from rlhf_eval.errors import UserError
from rlhf_eval.gen import SAMPLERS
from rlhf_eval.launch import EXECUTORS
from rlhf_eval.rl import ALGORITHMS, ENGINES
from rlhf_eval.rm import RM_KINDS, SCORERS


class ConfigError(UserError):
    """A recipe or card problem, explained in one line."""


def bounded(default=None, lo=None, hi=None, *, open_lo: bool = False, each: bool = False, factory=None):
    """A field with a range, checked at load (check_ranges): lo <= value <= hi, or lo < value when
    open_lo; `each`: every element of a list (or value of a mapping). None (unset) passes."""
    meta = {"range": (lo, hi, open_lo, each)}
    return field(default_factory=factory, metadata=meta) if factory else field(default=default, metadata=meta)


# --------------------------------------------------------------------------- toy world
@dataclass
class StudyWorldConfig:
    """A toy world for a planted-truth study: RMs on two independent axes. Quality: a source per
    label-noise level (correct-vs-wrong pairs, a share flipped). Nuisance: a source per marker
    strength (pairs whose two responses are the same answer, one followed by the artifact marker
    and one by a neutral word; the marked one is chosen with probability (1 + strength) / 2). Two
    benchmarks measure one axis each: toy_correct (correct vs wrong, no markers) and toy_marker
    (marked vs neutral, the same answer)."""
    noise_levels: list[float] = bounded(None, 0, 1, each=True, factory=lambda: [0.0, 0.1, 0.2, 0.3, 0.4, 0.5])
    marker_strengths: list[float] = bounded(None, 0, 1, each=True, factory=lambda: [0.0, 0.33, 0.67, 1.0])
    pairs: int = bounded(1000, 1)
    marker_pairs: int = bounded(500, 1)
    bench_pairs: int = bounded(200, 1)


@dataclass
class ToyWorldConfig:
    seed: int = 0
    sft_steps: int = bounded(1200, 1)
    hidden: int = bounded(64, 1)
    layers: int = bounded(2, 1)
    heads: int = bounded(2, 1)
    min_letters: int = bounded(4, 1)
    max_letters: int = bounded(9, 1)
    clean_pairs: int = bounded(2000, 0)
    noisy_pairs: int = bounded(2000, 0)
    noise_rate: float = bounded(0.35, 0, 1)
    length_pairs: int = bounded(1500, 0)
    artifact_pairs: int = bounded(1500, 0)
    duplicate_pairs: int = bounded(300, 0)
    leaked_pairs: int = bounded(200, 0)
    bench_pairs_per_subset: int = bounded(100, 1)
    task_prompts: int = bounded(200, 1)
    # null: no study sources or benchmarks (and the world's key is as before).
    study: Optional[StudyWorldConfig] = None


# --------------------------------------------------------------------------- recipe
@dataclass
class SourceConfig:
    name: str = MISSING
    # "toy:<source>" for a toy-world source, a local .jsonl/.json/.parquet file, or
    # "hf:<dataset id>" for a hub dataset (machines with network).
    path: str = MISSING
    split: str = "train"
    # Contract field -> column of this source, e.g. {prompt: question, chosen: response_a}.
    columns: dict[str, str] = field(default_factory=dict)


@dataclass
class NearDedupConfig:
    # Jaccard similarity of word shingles above which two pairs are near-duplicates.
    threshold: float = bounded(0.9, 0, 1, open_lo=True)
    num_perm: int = bounded(128, 1)
    shingle: int = bounded(3, 1)


@dataclass
class DecontaminateConfig:
    ngram: int = bounded(13, 1)
    # Benchmarks whose first-turn prompts must not appear in training data.
    benchmarks: list[str] = field(default_factory=lambda: ["toy_rewardbench"])


@dataclass
class FilterConfig:
    # Bounds on each response's length in whitespace tokens.
    min_tokens: int = bounded(1, 0)
    max_tokens: Optional[int] = bounded(None, 1)
    # Drop pairs whose `margin` column is 0 (annotators saw no difference).
    drop_ties: bool = True


@dataclass
class ConsistencyConfig:
    # RM card that judges the labels; it trains on raw data, since curation depends on it.
    judge: Optional[str] = None
    # Keep a pair when p = sigmoid(r_chosen - r_rejected) >= threshold.
    threshold: float = bounded(0.5, 0, 1)
    # Swap chosen and rejected (instead of dropping) when p <= 1 - recycle_above.
    recycle_above: Optional[float] = bounded(None, 0, 1, open_lo=True)


@dataclass
class SelectConfig:
    # Rank pairs by "judge_margin" (from the consistency step) or by a numeric column.
    by: str = "judge_margin"
    # Keep this top fraction of each category (all pairs when category_column is null).
    fraction: float = bounded(1.0, 0, 1, open_lo=True)
    # Cap a source's share of each category before that ranking (source -> fraction).
    per_source: dict[str, float] = bounded(None, 0, 1, open_lo=True, each=True, factory=dict)
    # Added to a source's scores before ranking (Skywork-Reward v1's per-source offsets).
    offsets: dict[str, float] = field(default_factory=dict)
    category_column: Optional[str] = None


@dataclass
class RetrieveConfig:
    # Pairs of these sources are the seed set (kept); every other remaining pair is the pool.
    seed_sources: list[str] = field(default_factory=list)
    k_max: int = bounded(8, 1)
    # "tfidf" or "rm" (the judge's own hidden states).
    embedder: str = "tfidf"


@dataclass
class CurateConfig:
    # "error": a malformed row stops the run naming file, row and field; "drop": count and skip.
    on_bad_row: str = "error"
    # Steps in order; schema validation always runs first.
    steps: list[str] = field(default_factory=lambda: ["dedup", "near_dedup", "decontaminate", "filter"])
    near_dedup: NearDedupConfig = field(default_factory=NearDedupConfig)
    decontaminate: DecontaminateConfig = field(default_factory=DecontaminateConfig)
    filter: FilterConfig = field(default_factory=FilterConfig)
    consistency: ConsistencyConfig = field(default_factory=ConsistencyConfig)
    select: SelectConfig = field(default_factory=SelectConfig)
    retrieve: RetrieveConfig = field(default_factory=RetrieveConfig)


CURATE_STEPS = ("dedup", "near_dedup", "decontaminate", "filter", "consistency", "select", "retrieve")


@dataclass
class BenchmarkConfig:
    # A registered benchmark (rewardbench, rewardbench2, rm-bench, judgebench, rmb-bon, pairwise,
    # best-of-k), a toy one (toy_rewardbench, toy_rewardbench2, toy_rmbench), or any name with `kind`.
    name: str = MISSING
    # The registered benchmark whose rules score it (defaults to `name`).
    kind: Optional[str] = None
    # Rows in the published schema: a local .jsonl/.json/.parquet or hf:<id>; defaults to the
    # benchmark's hub id (machines with network) or the toy world's copy.
    data: Optional[str] = None
    split: Optional[str] = None
    # pairwise / best-of-k only: contract field -> column, e.g. {prompt: question}.
    columns: dict[str, str] = field(default_factory=dict)


@dataclass
class ProbeConfig:
    # strip_marker, truncate, markdown_to_plain or repeated_letter (see docs/static-benchmarks.md).
    name: str = MISSING
    marker: Optional[str] = None
    keep: float = bounded(0.5, 0, 1, open_lo=True)


@dataclass
class StaticBenchConfig:
    # Each entry is a name or a mapping (BenchmarkConfig); a plain name is {name: <name>}.
    benchmarks: list[BenchmarkConfig] = field(default_factory=lambda: [BenchmarkConfig("toy_rewardbench")])
    bootstrap: int = bounded(1000, 0)
    # Perturbation probes run on every benchmark; the length baseline always runs.
    probes: list[ProbeConfig] = field(default_factory=list)


@dataclass
class RayShardConfig:
    # Generation and RM scoring as Ray tasks, one per shard of the prompts (candidates).
    enabled: bool = False
    # null: start a local Ray on this machine; "auto" or "ray://host:10001": join a running cluster.
    address: Optional[str] = None
    shards: int = bounded(4, 1)
    num_cpus: float = bounded(1, 0)
    num_gpus: float = bounded(0, 0)
    # A shard whose worker dies is retried this many times; its output is written once.
    max_retries: int = bounded(3, 0)


@dataclass
class BonConfig:
    enabled: bool = True
    # Toy tasks, lm-eval task names, or paths to lm-eval task YAML files.
    tasks: list[str] = field(default_factory=lambda: ["toy_sort"])
    n_max: int = bounded(16, 1)
    # Candidates are sampled in blocks of this size, each seeded on its own; n_max must be a
    # multiple. Raising n_max later samples only the new blocks.
    block: int = bounded(4, 1)
    n_grid: list[int] = bounded(None, 1, each=True, factory=lambda: [1, 2, 4, 8, 16])
    # Sampling settings; null takes the policy card's `generation` value.
    temperature: Optional[float] = bounded(None, 0)
    top_p: Optional[float] = bounded(None, 0, 1, open_lo=True)
    max_new_tokens: Optional[int] = bounded(None, 1)
    seed: int = 0
    limit: Optional[int] = bounded(None, 1)
    batch_size: int = bounded(64, 1)
    bootstrap: int = bounded(1000, 0)
    ray: RayShardConfig = field(default_factory=RayShardConfig)


@dataclass
class Placement:
    nodes: int = bounded(1, 1)
    gpus_per_node: int = bounded(1, 1)


@dataclass
class OpenRLHFConfig:
    # Ray Jobs address of the cluster's head (dashboard port).
    ray_address: str = "http://127.0.0.1:8265"
    actor: Placement = field(default_factory=Placement)
    critic: Placement = field(default_factory=Placement)
    ref: Placement = field(default_factory=Placement)
    reward: Placement = field(default_factory=Placement)
    vllm_engines: int = bounded(1, 0)
    vllm_tensor_parallel_size: int = bounded(1, 1)
    vllm_gpu_memory_utilization: float = bounded(0.6, 0, 1, open_lo=True)
    colocate_all: bool = False
    zero_stage: int = bounded(2, 0, 3)
    micro_batch_size: int = bounded(1, 1)
    max_len: int = bounded(2048, 1)
    # Where the job writes checkpoints: a path every node can read (shared storage).
    checkpoint_dir: Optional[str] = None
    # Entrypoint program; the default is OpenRLHF's. Tests name a CPU stand-in here.
    entrypoint: list[str] = field(default_factory=lambda: ["python3", "-m", "openrlhf.cli.train_ppo_ray"])
    # Seconds to wait for the job before giving up on it (the job keeps running on the cluster).
    timeout_s: float = bounded(86400, 0, open_lo=True)
    # More train_ppo_ray flags, passed as given (e.g. ["--algo.kl.estimator", "k3"]). Flags the
    # recipe already sets, and --reward.normalize_enable (broken in 0.11.2), are refused.
    extra_args: list[str] = field(default_factory=list)


@dataclass
class RLConfig:
    enabled: bool = True
    # trl: one machine (GRPO, RLOO); openrlhf: a Ray cluster (PPO, GRPO, RLOO, REINFORCE++).
    engine: str = "trl"
    algorithm: str = "grpo"
    steps: int = bounded(30, 1)
    learning_rate: float = bounded(1e-3, 0, open_lo=True)
    kl_coef: float = bounded(0.0, 0)
    samples_per_prompt: int = bounded(8, 1)
    prompts_per_step: int = bounded(16, 1)
    max_new_tokens: int = bounded(24, 1)
    temperature: float = bounded(1.0, 0, open_lo=True)
    save_every: int = bounded(10, 1)
    # One rl_train node per seed, all sharing the RM and the policy: an RM's RL gain is the mean
    # over its seeds, with a CI across seeds (run-to-run variance dominates RL).
    seeds: list[int] = field(default_factory=lambda: [0])
    openrlhf: OpenRLHFConfig = field(default_factory=OpenRLHFConfig)


@dataclass
class EvalConfig:
    tasks: list[str] = field(default_factory=lambda: ["toy_sort"])
    limit: Optional[int] = bounded(None, 1)
    batch_size: int = bounded(64, 1)


@dataclass
class CompareConfig:
    bootstrap: int = bounded(1000, 100)
    seed: int = 0


@dataclass
class CostConfig:
    """What `rlhf-eval plan --cost` assumes (docs/cost.md). Throughputs are achieved, not peak,
    TFLOP/s per GPU: about 40% of an H100's dense bf16 peak for training and prefill, and a
    quarter of that for decoding, which memory bandwidth bounds."""
    train_tflops: float = bounded(400.0, 0, open_lo=True)
    infer_tflops: float = bounded(400.0, 0, open_lo=True)
    decode_tflops: float = bounded(100.0, 0, open_lo=True)
    prompt_tokens: int = bounded(256, 1)
    response_tokens: int = bounded(512, 1)
    # Preference pairs an RM trains on, when the data is only known after download.
    train_pairs: int = bounded(80000, 1)
    # Model sizes in billions by card name, where the model id does not say it (e.g. "-8B").
    params_b: dict[str, float] = bounded(None, 0, open_lo=True, each=True, factory=dict)
    benchmark_responses: dict[str, int] = bounded(None, 1, each=True, factory=dict)
    task_prompts: dict[str, int] = bounded(None, 1, each=True, factory=dict)


@dataclass
class SlurmResources:
    partition: Optional[str] = None
    account: Optional[str] = None
    qos: Optional[str] = None
    nodes: int = bounded(1, 1)
    gpus_per_node: int = bounded(0, 0)
    cpus: int = bounded(1, 1)
    # Slurm's own syntax: "16G", "4000M"; null: the partition's default per CPU.
    mem: Optional[str] = None
    time: str = "01:00:00"
    constraint: Optional[str] = None
    # Raw "#SBATCH ..." options, e.g. ["--exclusive"]; checked against a safe pattern.
    extra_sbatch: list[str] = field(default_factory=list)


@dataclass
class SlurmConfig:
    defaults: SlurmResources = field(default_factory=SlurmResources)
    # Per stage, replacing the defaults, e.g. {rl_train: {gpus_per_node: 8, time: "12:00:00"}}.
    stages: dict[str, SlurmResources] = field(default_factory=dict)
    # Shell lines run before the node, e.g. ["module load cuda/12.4", "source ~/venv/bin/activate"].
    setup: list[str] = field(default_factory=list)
    # Preemptible partitions: requeued jobs rerun their node, which restarts cleanly or resumes.
    requeue: bool = False
    # Sibling nodes (same stage, same inputs) go in one job array.
    arrays: bool = True


@dataclass
class ReportConfig:
    # Optional exports, off by default: "leaderboard" (static results as RewardBench-leaderboard
    # JSON), "tensorboard" (scalars and verdicts; needs `pip install tensorboard`).
    exports: list[str] = field(default_factory=list)
    # Where TensorBoard events go; null: <report node>/tensorboard.
    tensorboard_dir: Optional[str] = None


@dataclass
class RayTaskResources:
    num_cpus: float = bounded(1, 0)
    num_gpus: float = bounded(0, 0)


@dataclass
class RayExecutorConfig:
    # null: start a local Ray; "auto", "HOST:6379" or "ray://HOST:10001": an existing cluster, whose
    # workers must see this checkout, its interpreter and the run folder at the same paths.
    address: Optional[str] = None
    defaults: RayTaskResources = field(default_factory=RayTaskResources)
    # Per stage, replacing the defaults, e.g. {train_rm: {num_gpus: 1}, rl_train: {num_cpus: 4}}.
    stages: dict[str, RayTaskResources] = field(default_factory=dict)
    # A node whose worker died is run again this many times (a node restarts cleanly or resumes).
    max_retries: int = bounded(1, 0)


@dataclass
class Recipe:
    name: str = MISSING
    seed: int = 0
    run_root: str = "runs"
    # local: nodes one by one in this process; ray: nodes as Ray tasks (`ray:` below). Slurm is
    # `rlhf-eval submit`, not an executor of `run`.
    executor: str = "local"
    ray: RayExecutorConfig = field(default_factory=RayExecutorConfig)
    slurm: SlurmConfig = field(default_factory=SlurmConfig)
    toy_world: Optional[ToyWorldConfig] = field(default_factory=ToyWorldConfig)
    sources: list[SourceConfig] = field(default_factory=list)
    curate: CurateConfig = field(default_factory=CurateConfig)
    reward_models: list[str] = field(default_factory=list)
    policies: list[str] = field(default_factory=lambda: ["toy-policy"])
    static_bench: StaticBenchConfig = field(default_factory=StaticBenchConfig)
    bon: BonConfig = field(default_factory=BonConfig)
    rl: RLConfig = field(default_factory=RLConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    compare: CompareConfig = field(default_factory=CompareConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    cost: CostConfig = field(default_factory=CostConfig)


# --------------------------------------------------------------------------- cards
@dataclass
class RMTrainConfig:
    # "curated" (the curate stage's output) or "raw" (every source, uncurated).
    dataset: str = "curated"
    sources: Optional[list[str]] = None
    max_pairs: Optional[int] = bounded(None, 1)
    epochs: float = bounded(1.0, 0, open_lo=True)
    learning_rate: float = bounded(1e-3, 0, open_lo=True)
    batch_size: int = bounded(32, 1)
    beta: float = bounded(0.1, 0, open_lo=True)
    max_length: int = bounded(64, 1)
    seed: int = 0


@dataclass
class RMCard:
    name: str = MISSING
    # classifier: *ForSequenceClassification with a scalar head; implicit: a DPO-tuned policy,
    # reward = beta * log pi(y|x) / pi_ref(y|x).
    kind: str = "classifier"
    # The model training starts from: a policy card name, "hf:<org>/<name>", or a local path.
    base: str = "toy-policy"
    # A trained checkpoint to use as is ("hf:<org>/<name>" or a local path); when set, nothing is trained.
    path: Optional[str] = None
    # Reference model of an implicit RM given by path (defaults to base).
    reference: Optional[str] = None
    train: RMTrainConfig = field(default_factory=RMTrainConfig)
    # Scoring: rows are sorted by length and batched, so a batch pads only to its own longest row.
    batch_size: int = bounded(64, 1)
    # Longer inputs keep their last max_length tokens (a classifier reads the last token);
    # every truncation is counted in the static_bench and bon_score outputs.
    max_length: int = bounded(256, 1)
    # Chat template for scoring: a jinja file or an inline template; null = the tokenizer's own.
    chat_template: Optional[str] = None
    trust_remote_code: bool = False
    # Scoring engine: transformers, vllm (its pooling runner, GPU), or remote: an HTTP server
    # speaking OpenRLHF's remote-RM protocol at `url` (for RMs that do not share the policy's
    # tokenizer). A remote RM is never trained here.
    backend: str = "transformers"
    url: Optional[str] = None
    # Name of the environment variable holding the remote server's bearer token.
    api_key_env: Optional[str] = None
    engine_args: dict[str, Any] = field(default_factory=dict)


@dataclass
class GenerationConfig:
    temperature: float = bounded(1.0, 0)
    top_p: float = bounded(1.0, 0, 1, open_lo=True)
    max_new_tokens: int = bounded(24, 1)


@dataclass
class PolicyCard:
    name: str = MISSING
    # "toy:policy" for the toy world's SFT policy, "hf:<org>/<name>" for a hub model (machines with
    # network), or a local path to an HF checkpoint.
    path: str = MISSING
    # transformers (CPU default) or vllm (GPU; pip install rlhf-eval[vllm]).
    backend: str = "transformers"
    # Passed to vllm.LLM as is, e.g. {tensor_parallel_size: 2, gpu_memory_utilization: 0.8}.
    engine_args: dict[str, Any] = field(default_factory=dict)
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    trust_remote_code: bool = False


EXPORTS = ("leaderboard", "tensorboard")
# Model references that are not local paths: the toy world's models and hub ids.
MODEL_REFS = ("toy:", "hf:")

# Choices come from the registries (rlhf_eval.extensions), so a new backend, engine or executor
# is valid here as soon as it is registered.
CHOICES = {
    "executor": tuple(EXECUTORS),
    "rl.engine": tuple(ENGINES),
    "rl.algorithm": tuple(dict.fromkeys(a for algos in sorted(ALGORITHMS.values(), key=len, reverse=True)
                                        for a in algos)),
    "kind": tuple(RM_KINDS),
    "train.dataset": ("curated", "raw"),
    "curate.on_bad_row": ("error", "drop"),
    "curate.retrieve.embedder": ("tfidf", "rm"),
    "backend": tuple(dict.fromkeys([*SCORERS, *SAMPLERS])),  # RM cards: SCORERS; policy cards: SAMPLERS
}


# --------------------------------------------------------------------------- validation
def _closest(word: str, options) -> str:
    match = difflib.get_close_matches(word, list(options), n=1, cutoff=0.5)
    return f" (did you mean '{match[0]}'?)" if match else f" (valid: {', '.join(sorted(options))})"


def _dataclass_of(tp) -> Optional[type]:
    if is_dataclass(tp):
        return tp
    if get_origin(tp) is not None:
        for arg in get_args(tp):
            found = _dataclass_of(arg)
            if found:
                return found
    return None


def check_keys(raw: Any, schema: type, where: str, prefix: str = "") -> None:
    """Reject unknown keys anywhere in `raw`, naming the closest valid key."""
    if not isinstance(raw, dict):
        return
    hints = get_type_hints(schema)
    names = [f.name for f in fields(schema)]
    for key, value in raw.items():
        dotted = f"{prefix}{key}"
        if key not in names:
            raise ConfigError(f"{where}: unknown key '{dotted}'{_closest(str(key), names)}")
        sub = _dataclass_of(hints[key])
        if sub is None:
            continue
        if get_origin(hints[key]) is dict and isinstance(value, dict):  # name -> dataclass
            for name, item in value.items():
                check_keys(item, sub, where, f"{dotted}.{name}.")
        elif isinstance(value, list):
            for i, item in enumerate(value):
                check_keys(item, sub, where, f"{dotted}[{i}].")
        else:
            check_keys(value, sub, where, f"{dotted}.")


def _check_choices(cfg: Any, where: str, prefix: str = "") -> None:
    for dotted, allowed in CHOICES.items():
        if prefix and not dotted.startswith(prefix):
            continue
        value = OmegaConf.select(cfg, dotted[len(prefix):] if prefix else dotted)
        if value is not None and value not in allowed:
            raise ConfigError(f"{where}: {dotted}={value!r} is not one of {', '.join(allowed)}")


def _range_problem(v, lo, hi, open_lo: bool) -> str | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None  # types are OmegaConf's and _element_problem's to check
    if lo is not None and (v <= lo if open_lo else v < lo) or hi is not None and v > hi:
        if hi is None:
            return f"must be {'above' if open_lo else 'at least'} {lo}"
        return f"must be within {'(' if open_lo else '['}{lo}, {hi}]"
    return None


SCALARS = {str: (str,), int: (int,), float: (int, float), bool: (bool,)}


def _element_problem(value, hint) -> str | None:
    """Element types of list[X] and dict[str, X] fields, which OmegaConf lets through nested."""
    origin, args = get_origin(hint), get_args(hint)
    if origin is list and args and args[0] in SCALARS:
        items, kind = enumerate(value or []), args[0]
    elif origin is dict and len(args) == 2 and args[1] in SCALARS:
        items, kind = (value or {}).items(), args[1]
    else:
        return None
    for k, v in items:
        ok = isinstance(v, SCALARS[kind]) and (kind is bool or not isinstance(v, bool))
        if not ok:
            shown = repr(v) if len(repr(v)) < 60 else repr(v)[:57] + "..."
            return f"[{k!r}] must be a {kind.__name__}, got {type(v).__name__} {shown}"
    return None


def check_values(obj, where: str, prefix: str = "") -> None:
    """Every bounded field within its range, and list and mapping elements of the declared type,
    recursively; the error names the dotted key."""
    hints = get_type_hints(type(obj))
    for f in fields(obj):
        value, dotted = getattr(obj, f.name), f"{prefix}{f.name}"
        problem = _element_problem(value, hints[f.name])
        if problem:
            raise ConfigError(f"{where}: {dotted}{problem}")
        if f.metadata.get("range") and value is not None:
            lo, hi, open_lo, each = f.metadata["range"]
            items = (value.items() if isinstance(value, dict) else enumerate(value)) if each else [(None, value)]
            for k, v in items:
                why = _range_problem(v, lo, hi, open_lo)
                if why:
                    name = dotted if k is None else f"{dotted}[{k!r}]"
                    raise ConfigError(f"{where}: {name}={v!r} {why}")
        if is_dataclass(value):
            check_values(value, where, f"{dotted}.")
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if is_dataclass(item):
                    check_values(item, where, f"{dotted}[{i}].")
        elif isinstance(value, dict):
            for k, item in value.items():
                if is_dataclass(item):
                    check_values(item, where, f"{dotted}.{k}.")


MAX_VALUES = 100_000  # a recipe is a few hundred values; YAML aliases must not blow it up


def expanded_size(obj, limit: int = MAX_VALUES) -> int:
    """How many values `obj` holds once YAML aliases are copied out, as OmegaConf will; counted
    with memoization over shared objects, so a billion-laugh document is measured, not expanded."""
    memo: dict[int, int] = {}

    def size(x) -> int:
        if not isinstance(x, (dict, list)):
            return 1
        if id(x) not in memo:
            memo[id(x)] = 0  # a self-referencing alias counts once
            children = x.values() if isinstance(x, dict) else x
            memo[id(x)] = min(limit + 1, 1 + sum(size(c) for c in children))
        return memo[id(x)]
    return size(obj)


def _read_yaml(path: Path) -> dict:
    if not path.is_file():
        raise ConfigError(f"{path}: no such file")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}: line {line}: not UTF-8 text (byte 0x{raw[exc.start]:02x}); "
                          "save the file as UTF-8") from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    if expanded_size(data) > MAX_VALUES:
        raise ConfigError(f"{path}: expands to over {MAX_VALUES:,} values through YAML aliases (&/*); "
                          "write the values out instead")
    return data


def _merge(schema: type, raw: dict, where: str):
    check_keys(raw, schema, where)
    try:
        cfg = OmegaConf.merge(OmegaConf.structured(schema), raw)
        missing = sorted(OmegaConf.missing_keys(cfg))
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", None)
        msg = str(exc).splitlines()[0]
        raise ConfigError(f"{where}: {key + ': ' if key else ''}{msg}") from None
    if missing:
        raise ConfigError(f"{where}: required key '{missing[0]}' is not set")
    return cfg


def parse_overrides(overrides: list[str]) -> dict:
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override '{item}': expected key=value")
        try:
            OmegaConf.from_dotlist([item])
        except (OmegaConfBaseException, yaml.YAMLError) as exc:
            raise ConfigError(f"override '{item}': cannot parse the value ({str(exc).splitlines()[0]}); "
                              "lists are written key=[1,2,4], strings with spaces key='a b'") from None
    out = OmegaConf.to_container(OmegaConf.from_dotlist(list(overrides)))
    if expanded_size(out) > MAX_VALUES:
        raise ConfigError(f"overrides hold over {MAX_VALUES:,} values")
    return out


# --------------------------------------------------------------------------- cards
def card_dirs(recipe_path: Path, kind: str) -> list[Path]:
    dirs = [recipe_path.resolve().parent.parent / kind, Path.cwd() / kind]
    extra = os.environ.get("RLHF_EVAL_CARDS")
    if extra:
        dirs.insert(0, Path(extra) / kind)
    seen, out = set(), []
    for d in dirs:
        if d not in seen and d.is_dir():
            seen.add(d)
            out.append(d)
    return out


NAME = re.compile(r"[A-Za-z0-9_.+-]+")


def is_name(name) -> bool:
    """Names become file and folder names: no separators, no '.' or '..'."""
    return isinstance(name, str) and bool(NAME.fullmatch(name)) and name not in (".", "..")


def check_name(name, what: str, where: str) -> None:
    if not is_name(name):
        raise ConfigError(f"{where}: {what} {name!r} is not a name: use only letters, digits, '_', '-', '+' and '.' "
                          "(not '.' or '..'); names are not paths")


def load_card(name: str, kind: str, schema: type, recipe_path: Path, where: str):
    dirs = card_dirs(recipe_path, kind)
    if not is_name(name):
        searched = ", ".join(str(d) for d in dirs) or f"no {kind}/ folder found"
        raise ConfigError(f"{where}: card {name!r} is not a card name; cards are found by name in {kind}/ "
                          f"folders (searched: {searched}), and a name holds no path separators")
    for d in dirs:
        path = d / f"{name}.yaml"
        if path.is_file():
            raw = _read_yaml(path)
            raw.setdefault("name", name)
            if raw["name"] != name:
                raise ConfigError(f"{path}: name '{raw['name']}' does not match the file name '{name}'")
            cfg = _merge(schema, raw, str(path))
            _check_choices(cfg, str(path))
            card = OmegaConf.to_object(cfg)
            check_values(card, str(path))
            return card
    known = sorted({p.stem for d in dirs for p in d.glob("*.yaml")})
    hint = _closest(name, known) if known else f" (no {kind}/ folder found)"
    raise ConfigError(f"{where}: no card '{name}' in {kind}/{hint}")


@dataclass
class LoadedRecipe:
    recipe: Recipe
    path: Path
    reward_models: dict[str, RMCard]
    policies: dict[str, PolicyCard]
    judge: Optional[RMCard] = None

    @property
    def run_dir(self) -> Path:
        return Path(self.recipe.run_root) / self.recipe.name

    def to_dict(self) -> dict:
        return {
            "recipe": OmegaConf.to_container(OmegaConf.structured(self.recipe)),
            "reward_models": {k: OmegaConf.to_container(OmegaConf.structured(v))
                              for k, v in self.reward_models.items()},
            "policies": {k: OmegaConf.to_container(OmegaConf.structured(v))
                         for k, v in self.policies.items()},
            "judge": None if self.judge is None else OmegaConf.to_container(OmegaConf.structured(self.judge)),
        }


def _check_stage_maps(recipe: Recipe, where: str) -> None:
    from rlhf_eval.pipeline import STAGES
    for section, stages in (("slurm", recipe.slurm.stages), ("ray", recipe.ray.stages)):
        for stage in stages:
            if stage not in STAGES:
                raise ConfigError(f"{where}: {section}.stages: unknown stage '{stage}'{_closest(stage, STAGES)}")


def _check_rl(recipe: Recipe, where: str) -> None:
    rl = recipe.rl
    if not rl.seeds or len(set(rl.seeds)) != len(rl.seeds):
        raise ConfigError(f"{where}: rl.seeds={list(rl.seeds)} must list at least one seed, each once")
    if rl.enabled and rl.algorithm not in ALGORITHMS[rl.engine]:
        others = [e for e, algos in ALGORITHMS.items() if rl.algorithm in algos]
        raise ConfigError(f"{where}: rl.algorithm={rl.algorithm} cannot run on rl.engine={rl.engine}: use "
                          f"{' or '.join(ALGORITHMS[rl.engine])} there"
                          + (f", or rl.engine={others[0]}" if others else ""))


def _check_benchmarks(recipe: Recipe, where: str) -> None:
    from rlhf_eval.bench.probes import PROBES
    from rlhf_eval.bench.registry import kind_of

    names = [b.name for b in recipe.static_bench.benchmarks]
    for b in recipe.static_bench.benchmarks:
        try:
            bench = kind_of(b.name, b.kind)
        except ValueError as exc:
            raise ConfigError(f"{where}: static_bench.benchmarks: {exc}") from None
        if b.columns and not bench.takes_columns:
            raise ConfigError(f"{where}: static_bench.benchmarks '{b.name}': columns apply to pairwise and "
                              "best-of-k only; other benchmarks read their published schema")
        if names.count(b.name) > 1:
            raise ConfigError(f"{where}: static_bench.benchmarks names '{b.name}' twice")
    for p in recipe.static_bench.probes:
        if p.name not in PROBES:
            raise ConfigError(f"{where}: static_bench.probes: unknown probe '{p.name}'{_closest(p.name, PROBES)}")
        if p.name == "strip_marker" and not p.marker:
            raise ConfigError(f"{where}: static_bench.probes: strip_marker needs `marker`, the text to remove")
        if not 0 < p.keep < 1:
            raise ConfigError(f"{where}: static_bench.probes: keep={p.keep} must be within (0, 1)")


def load_recipe(path: str | Path, overrides: list[str] = ()) -> LoadedRecipe:
    path = Path(path)
    raw = _read_yaml(path)
    check_keys(raw, Recipe, str(path))
    over = parse_overrides(list(overrides))
    check_keys(over, Recipe, "override")
    merged = OmegaConf.to_container(OmegaConf.merge(raw, over))
    benches = (merged.get("static_bench") or {}).get("benchmarks")
    if isinstance(benches, list):
        merged["static_bench"]["benchmarks"] = [{"name": b} if isinstance(b, str) else b for b in benches]
    cfg = _merge(Recipe, merged, str(path))
    _check_choices(cfg, str(path))
    recipe: Recipe = OmegaConf.to_object(cfg)
    check_name(recipe.name, "name", str(path))
    check_values(recipe, str(path))
    if not recipe.reward_models:
        raise ConfigError(f"{path}: reward_models is empty; name at least one RM card")
    if not recipe.policies:
        raise ConfigError(f"{path}: policies is empty (no policies); name at least one policy card")
    if not recipe.bon.n_grid:
        raise ConfigError(f"{path}: bon.n_grid is empty; list the n to report, e.g. [1, 4, 16]")
    w = recipe.toy_world
    if w is not None and w.min_letters > w.max_letters:
        raise ConfigError(f"{path}: toy_world.min_letters={w.min_letters} is above toy_world.max_letters={w.max_letters}")
    for n in recipe.bon.n_grid:
        if not 1 <= n <= recipe.bon.n_max:
            raise ConfigError(f"{path}: bon.n_grid has {n}, outside 1..bon.n_max={recipe.bon.n_max}")
    _check_benchmarks(recipe, str(path))
    _check_rl(recipe, str(path))
    _check_stage_maps(recipe, str(path))
    for e in recipe.report.exports:
        if e not in EXPORTS:
            raise ConfigError(f"{path}: report.exports: unknown export '{e}'{_closest(e, EXPORTS)}")
    for step in recipe.curate.steps:
        if step not in CURATE_STEPS:
            raise ConfigError(f"{path}: curate.steps has unknown step '{step}'{_closest(step, CURATE_STEPS)}")
    rms = {n: load_card(n, "reward_models", RMCard, path, f"{path}: reward_models")
           for n in recipe.reward_models}
    judge = recipe.curate.consistency.judge
    if "consistency" in recipe.curate.steps or "retrieve" in recipe.curate.steps or (
            "select" in recipe.curate.steps and recipe.curate.select.by == "judge_margin"):
        if judge is None:
            raise ConfigError(f"{path}: curate.consistency.judge must name an RM card for the "
                              "consistency and retrieve steps (and for select.by=judge_margin)")
    judge_card = None
    if judge is not None:
        judge_card = load_card(judge, "reward_models", RMCard, path, f"{path}: curate.consistency.judge")
        if judge_card.path is None and judge_card.train.dataset != "raw":
            raise ConfigError(f"RM card '{judge}': a curation judge must train on raw data "
                              "(train.dataset: raw), since the curated data depends on it")
    for card in [*rms.values(), *([judge_card] if judge_card else [])]:
        if card.backend not in SCORERS:
            raise ConfigError(f"RM card '{card.name}': backend '{card.backend}' cannot score "
                              f"({' or '.join(SCORERS)})")
        if card.backend not in RM_KINDS[card.kind]:
            takes = [k for k, backends in RM_KINDS.items() if card.backend in backends]
            raise ConfigError(f"RM card '{card.name}': the {card.backend} backend cannot score {card.kind} RMs; "
                              f"set kind: {' or '.join(takes)}, or backend: {' or '.join(RM_KINDS[card.kind])}")
        if card.backend == "remote" and not card.url:
            raise ConfigError(f"RM card '{card.name}': backend remote needs `url`")
    if recipe.bon.n_max % recipe.bon.block:
        raise ConfigError(f"{path}: bon.n_max={recipe.bon.n_max} must be a multiple of bon.block={recipe.bon.block}")
    pols = {n: load_card(n, "policies", PolicyCard, path, f"{path}: policies") for n in recipe.policies}
    for card in pols.values():
        if card.backend not in SAMPLERS:
            raise ConfigError(f"policy card '{card.name}': backend '{card.backend}' cannot generate "
                              f"({' or '.join(SAMPLERS)})")
    for card in pols.values():
        if not card.path.startswith(MODEL_REFS) and not Path(card.path).exists():
            raise ConfigError(f"policy card '{card.name}': path '{card.path}' does not exist "
                              "(a hub model is written hf:<org>/<name>)")
    for card in [*rms.values(), *([judge_card] if judge_card else [])]:
        if card.path is None and card.base not in pols and not card.base.startswith(MODEL_REFS):
            if not Path(card.base).exists():
                raise ConfigError(f"RM card '{card.name}': base '{card.base}' is neither a policy of "
                                  f"this recipe ({', '.join(pols)}) nor an existing path")
        if card.path is not None and not card.path.startswith(MODEL_REFS) and not Path(card.path).exists():
            raise ConfigError(f"RM card '{card.name}': path '{card.path}' does not exist "
                              "(a hub model is written hf:<org>/<name>)")
    if recipe.toy_world is None and any(c.path.startswith("toy:") for c in pols.values()):
        raise ConfigError(f"{path}: a policy uses the toy world but toy_world is null")
    return LoadedRecipe(recipe, path, rms, pols, judge_card)
