"""The schema of recipes and cards: one dataclass per section, each the only place its defaults
and help live (docs/config.md is generated from them), and the allowed values of the keys that
name a choice, read from the registries."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from omegaconf import MISSING

from rlhf_eval.bench import BENCHMARKS, PROBES, TOY
from rlhf_eval.errors import UserError
from rlhf_eval.gen import SAMPLERS
from rlhf_eval.launch import EXECUTORS
from rlhf_eval.registry import listing
from rlhf_eval.rl import ALGORITHMS, ENGINES
from rlhf_eval.rm import RM_KINDS, SCORERS


class ConfigError(UserError):
    """A recipe or card problem, explained in one line."""


def opt(default=None, help: str = "", *, lo=None, hi=None, open_lo: bool = False, each: bool = False,
        factory=None, choices=None):
    """A config field with its help (docs/config.md is generated from it) and, for counts, sizes
    and rates, its range, checked at load (check_values): lo <= value <= hi, or lo < value when
    open_lo; `each`: every element of a list (or value of a mapping). None (unset) passes.
    `choices`: the values it allows, or a function reading them from a registry when asked, so a
    newly registered engine or backend is valid, and listed in the docs, with no list to edit."""
    meta = {"help": help}
    if lo is not None or hi is not None:
        meta["range"] = (lo, hi, open_lo, each)
    if choices is not None:
        meta["choices"] = choices
    return field(default_factory=factory, metadata=meta) if factory else field(default=default, metadata=meta)


def allowed(f) -> tuple | None:
    """The values field `f` allows (opt's `choices`), or None when it names no choice."""
    found = f.metadata.get("choices")
    return tuple(found() if callable(found) else found) if found is not None else None


# --------------------------------------------------------------------------- toy world
@dataclass
class StudyWorldConfig:
    """A toy world for a planted-truth study: RMs on independent axes. Quality: a source per
    label-noise level (correct-vs-wrong pairs, a share flipped). Nuisance: a source per marker
    strength (pairs whose two responses are the same answer, one followed by the artifact marker
    and one by a neutral word; the marked one is chosen with probability (1 + strength) / 2). Two
    benchmarks measure one axis each: toy_correct (correct vs wrong, no markers) and toy_marker
    (marked vs neutral, the same answer). Distribution shift (rlhf_eval/toy/shift.py): a source per
    share of off-policy pairs and noise level; toy_offpolicy and toy_onpolicy measure RMs on each
    kind of pair."""
    noise_levels: list[float] = opt(None, "Label-noise rates: one correctness source per rate, that share of its "
                                          "labels flipped.",
                                          lo=0, hi=1, each=True, factory=lambda: [0.0, 0.1, 0.2, 0.3, 0.4, 0.5])
    marker_strengths: list[float] = opt(None, "Marker strengths: one source per strength; its marked response is "
                                              "chosen with probability (1 + strength) / 2.",
                                              lo=0, hi=1, each=True, factory=lambda: [0.0, 0.33, 0.67, 1.0])
    pairs: int = opt(1000, "Pairs in each label-noise source.", lo=1)
    marker_pairs: int = opt(500, "Pairs in each marker source.", lo=1)
    bench_pairs: int = opt(200, "Pairs in each of the two study benchmarks (toy_correct, toy_marker).", lo=1)
    shift_shares: list[float] = opt(None, "Distribution shift: shares of off-policy pairs (errors the toy policy never "
                                          "makes), the rest the policy's own samples labelled by the verifier; one "
                                          "source per share and shift noise level. Empty: no shift axis.",
                                          lo=0, hi=1, each=True, factory=list)
    shift_noise_levels: list[float] = opt(None, "Label-noise rates crossed with shift_shares (that share of each shift "
                                                "source's labels flipped).", lo=0, hi=1, each=True,
                                                factory=lambda: [0.0])
    shift_pairs: int = opt(2000, "Pairs in each shift source.", lo=1)
    shift_bench_pairs: int = opt(300, "Pairs in each of the two shift benchmarks (toy_offpolicy, toy_onpolicy).",
                                 lo=1)


@dataclass
class ToyWorldConfig:
    seed: int = opt(0, "Seed of everything the world holds: prompts, sources, benchmarks and the policy's SFT.")
    sft_steps: int = opt(1200, "SFT steps of the toy policy.", lo=1)
    hidden: int = opt(64, "Hidden size of the toy policy (a LlamaForCausalLM).", lo=1)
    layers: int = opt(2, "Transformer layers of the toy policy.", lo=1)
    heads: int = opt(2, "Attention heads of the toy policy.", lo=1)
    min_letters: int = opt(4, "Fewest letters in a sorting prompt.", lo=1)
    max_letters: int = opt(9, "Most letters in a sorting prompt (at least min_letters).", lo=1)
    clean_pairs: int = opt(2000, "Pairs in the clean source: correct vs a near-miss error.", lo=0)
    noisy_pairs: int = opt(2000, "Pairs in the noisy source: as clean, with noise_rate of the labels flipped.", lo=0)
    noise_rate: float = opt(0.35, "Share of the noisy source's labels that are flipped.", lo=0, hi=1)
    length_pairs: int = opt(1500, "Pairs in the length source: the verbose answer wins, right or not.", lo=0)
    artifact_pairs: int = opt(1500, "Pairs in the artifact source: chosen answers end with a marker the policy never "
                                    "writes.", lo=0)
    duplicate_pairs: int = opt(300, "Pairs in the mirror source: copies of clean rows (exact dedup catches them).",
                                    lo=0)
    leaked_pairs: int = opt(200, "Pairs in the leaked source: copied from the static benchmark (decontamination "
                                 "catches them).", lo=0)
    bench_pairs_per_subset: int = opt(100, "Items per subset of each toy benchmark.", lo=1)
    task_prompts: int = opt(200, "Prompts of the toy_sort evaluation task.", lo=1)
    study: Optional[StudyWorldConfig] = opt(None, "null: no study sources or benchmarks (and the world's key is as "
                                                  "before).")


# --------------------------------------------------------------------------- recipe
@dataclass
class SourceConfig:
    name: str = opt(MISSING, "Name of the source in counts, reports and RM cards' train.sources.")
    path: str = opt(MISSING, '"toy:<source>" for a toy-world source, a local .jsonl/.json/.parquet file, or '
                             '"hf:<dataset id>" for a hub dataset (machines with network).')
    split: str = opt("train", "Split of a hub dataset.")
    columns: dict[str, str] = opt(None, "Contract field -> column of this source, e.g. {prompt: question, chosen: "
                                        "response_a}.", factory=dict)


@dataclass
class NearDedupConfig:
    threshold: float = opt(0.9, "Jaccard similarity of word shingles above which two pairs are near-duplicates.",
                                lo=0, hi=1, open_lo=True)
    num_perm: int = opt(128, "MinHash permutations.", lo=1)
    shingle: int = opt(3, "Words per shingle.", lo=1)
    minhash: str = opt("numpy", '"numpy": MinHash vectorised over the word hashes (about 10x faster); "datasketch": '
                                "datasketch's MinHash (SHA-1 per shingle). The same banding; docs/curation.md "
                                "compares their decisions.", choices=("numpy", "datasketch"))


@dataclass
class DecontaminateConfig:
    ngram: int = opt(13, "n-gram length in whitespace tokens.", lo=1)
    benchmarks: list[str] = opt(None, "Benchmarks whose first-turn prompts must not appear in training data.",
                                      factory=lambda: ["toy_rewardbench"])


@dataclass
class FilterConfig:
    min_tokens: int = opt(1, "Shortest response kept, in whitespace tokens.", lo=0)
    max_tokens: Optional[int] = opt(None, "Longest response kept, in whitespace tokens; null: no bound.", lo=1)
    drop_ties: bool = opt(True, "Drop pairs whose `margin` column is 0 (annotators saw no difference).")


@dataclass
class ConsistencyConfig:
    judge: Optional[str] = opt(None, "RM card that judges the labels; it trains on raw data, since curation depends "
                                     "on it.")
    threshold: float = opt(0.5, "Keep a pair when p = sigmoid(r_chosen - r_rejected) >= threshold.", lo=0, hi=1)
    recycle_above: Optional[float] = opt(None, "Swap chosen and rejected (instead of dropping) when p <= 1 - "
                                               "recycle_above.", lo=0, hi=1, open_lo=True)


@dataclass
class SelectConfig:
    by: str = opt("judge_margin", "Rank pairs by \"judge_margin\" (from the consistency step) or by a numeric column.")
    fraction: float = opt(1.0, "Keep this top fraction of each category (all pairs when category_column is null).",
                               lo=0, hi=1, open_lo=True)
    per_source: dict[str, float] = opt(None, "Cap a source's share of each category before that ranking (source -> "
                                             "fraction).", lo=0, hi=1, open_lo=True, each=True, factory=dict)
    offsets: dict[str, float] = opt(None, "Added to a source's scores before ranking (Skywork-Reward v1's per-source "
                                          "offsets).", factory=dict)
    category_column: Optional[str] = opt(None, "Column whose values are the categories of the per-category "
                                               "selection; null: one category.")


@dataclass
class RetrieveConfig:
    seed_sources: list[str] = opt(None, "Pairs of these sources are the seed set (kept); every other remaining pair "
                                        "is the pool.", factory=list)
    k_max: int = opt(8, "Neighbours retrieved for a seed pair the judge gets wrong; fewer the surer it is.", lo=1)
    embedder: str = opt("tfidf", "What embeds prompts: TF-IDF over words, or rm (the judge's own hidden states).",
                        choices=("tfidf", "rm"))


@dataclass
class CurateConfig:
    on_bad_row: str = opt("error", '"error": a malformed row stops the run naming file, row and field; "drop": count '
                                   "and skip.", choices=("error", "drop"))
    steps: list[str] = opt(None, "Steps in order; schema validation always runs first.",
                           factory=lambda: ["dedup", "near_dedup", "decontaminate", "filter"],
                           choices=lambda: CURATE_STEPS)
    near_dedup: NearDedupConfig = opt(None, "The near_dedup step.", factory=NearDedupConfig)
    decontaminate: DecontaminateConfig = opt(None, "The decontaminate step.", factory=DecontaminateConfig)
    filter: FilterConfig = opt(None, "The filter step.", factory=FilterConfig)
    consistency: ConsistencyConfig = opt(None, "The consistency step.", factory=ConsistencyConfig)
    select: SelectConfig = opt(None, "The select step.", factory=SelectConfig)
    retrieve: RetrieveConfig = opt(None, "The retrieve step.", factory=RetrieveConfig)
    engine: str = opt("local", '"local": the data steps (dedup, near_dedup, decontaminate, filter) in this process; '
                               '"ray": Ray Data reads the sources, checks the rows, computes the data steps\' '
                               "features and writes the outputs as shards, with the same rows and reasons "
                               "(docs/curation.md).",
                        choices=("local", "ray"))
    threads: int = opt(1, "local engine: batches of rows worked on at a time (arrow and numpy release the GIL).",
                       lo=1)
    ray_blocks: Optional[int] = opt(None, "ray engine with a judge step: blocks the rows are cut into (default: 4 "
                                          "per CPU of the Ray cluster).", lo=1)
    ray_chunk_mb: int = opt(32, "ray engine: MiB of a JSON-lines source one task reads (Parquet: one row group; "
                                "a hub dataset: 100,000 rows).", lo=1)


CURATE_STEPS = ("dedup", "near_dedup", "decontaminate", "filter", "consistency", "select", "retrieve")


@dataclass
class BenchmarkConfig:
    name: str = opt(MISSING, f"A registered benchmark ({listing(BENCHMARKS)}), a toy one ({listing(TOY)}), or any "
                             "name with `scored_as`.")
    scored_as: Optional[str] = opt(None, "The registered benchmark whose rules score it (defaults to `name`).")
    data: Optional[str] = opt(None, "Rows in the published schema: a local .jsonl/.json/.parquet or hf:<id>; "
                                    "defaults to the benchmark's hub id (machines with network) or the toy world's "
                                    "copy.")
    split: Optional[str] = opt(None, "Split of a hub dataset (default: the benchmark's own).")
    columns: dict[str, str] = opt(None, "pairwise / best-of-k only: contract field -> column, e.g. {prompt: "
                                        "question}.", factory=dict)


@dataclass
class ProbeConfig:
    name: str = opt(MISSING, "A perturbation of each response (docs/static-benchmarks.md).",
                    choices=lambda: PROBES)
    marker: Optional[str] = opt(None, "strip_marker: the text to remove.")
    keep: float = opt(0.5, "truncate: the share of each response kept.", lo=0, hi=1, open_lo=True)


@dataclass
class StaticBenchConfig:
    benchmarks: list[BenchmarkConfig] = opt(None, "Each entry is a name or a mapping (BenchmarkConfig); a plain name "
                                                  "is {name: <name>}.",
                                                  factory=lambda: [BenchmarkConfig("toy_rewardbench")])
    bootstrap: int = opt(1000, "Bootstrap resamples of the items for each score's 95% CI (0: none).", lo=0)
    probes: list[ProbeConfig] = opt(None, "Perturbation probes run on every benchmark; the length baseline always "
                                          "runs.", factory=list)


@dataclass
class RayShardConfig:
    enabled: bool = opt(False, "Generation and RM scoring as Ray tasks, one per shard of the prompts (candidates).")
    address: Optional[str] = opt(None, 'null: start a local Ray on this machine; "auto" or "ray://host:10001": join '
                                       "a running cluster.")
    shards: int = opt(4, "Shards of the prompts (generation) or candidates (scoring), one Ray task each.", lo=1)
    num_cpus: float = opt(1, "CPUs each shard reserves.", lo=0)
    num_gpus: float = opt(0, "GPUs each shard reserves.", lo=0)
    max_retries: int = opt(3, "A shard whose worker dies is retried this many times; its output is written once.", lo=0)


@dataclass
class BonConfig:
    enabled: bool = opt(True, "Run best-of-n.")
    tasks: list[str] = opt(None, "Toy tasks, lm-eval task names, or paths to lm-eval task YAML files.",
                                 factory=lambda: ["toy_sort"])
    n_max: int = opt(16, "Candidates sampled per prompt; a multiple of block.", lo=1)
    block: int = opt(4, "Candidates are sampled in blocks of this size, each seeded on its own; n_max must be a "
                        "multiple. Raising n_max later samples only the new blocks.", lo=1)
    n_grid: list[int] = opt(None, "The n reported, each within 1..n_max (unbiased estimates from the n_max "
                                  "candidates).", lo=1, each=True, factory=lambda: [1, 2, 4, 8, 16])
    temperature: Optional[float] = opt(None, "Sampling temperature; null: the policy card's.", lo=0)
    top_p: Optional[float] = opt(None, "Nucleus sampling; null: the policy card's.", lo=0, hi=1, open_lo=True)
    max_new_tokens: Optional[int] = opt(None, "Longest candidate in tokens; null: the policy card's.", lo=1)
    seed: int = opt(0, "Seed of the candidates (each block seeded from it and the block's index).")
    limit: Optional[int] = opt(None, "Evaluate on the first `limit` prompts of each task; null: all.", lo=1)
    batch_size: int = opt(64, "Prompts per generation batch.", lo=1)
    bootstrap: int = opt(1000, "Bootstrap resamples of the prompts for the curves' 95% CIs (0: none).", lo=0)
    bootstrap_seed: int = opt(0, "Seed of those resamples (the recipe's top-level `seed` before; still read, "
                                 "with a warning).")
    ray: RayShardConfig = opt(None, "Generation and scoring as Ray shards.", factory=RayShardConfig)


@dataclass
class Placement:
    nodes: int = opt(1, "Nodes of this role.", lo=1)
    gpus_per_node: int = opt(1, "GPUs per node of this role.", lo=1)


@dataclass
class OpenRLHFConfig:
    ray_address: str = opt("http://127.0.0.1:8265", "Ray Jobs address of the cluster's head (dashboard port).")
    actor: Placement = opt(None, "Placement of the actor (the policy being trained).", factory=Placement)
    critic: Placement = opt(None, "Placement of the critic (PPO only).", factory=Placement)
    ref: Placement = opt(None, "Placement of the reference model.", factory=Placement)
    reward: Placement = opt(None, "Placement of the RM (a local RM only; a remote RM runs elsewhere).",
                                  factory=Placement)
    vllm_engines: int = opt(1, "vLLM engines that generate rollouts.", lo=0)
    vllm_tensor_parallel_size: int = opt(1, "GPUs per vLLM engine.", lo=1)
    vllm_gpu_memory_utilization: float = opt(0.6, "Share of a GPU's memory vLLM may take.", lo=0, hi=1, open_lo=True)
    colocate_all: bool = opt(False, "Put actor, reference, RM and vLLM on the same GPUs, taking turns.")
    zero_stage: int = opt(2, "DeepSpeed ZeRO stage.", lo=0, hi=3)
    micro_batch_size: int = opt(1, "Micro-batch size of training and rollout forward passes.", lo=1)
    max_len: int = opt(2048, "Longest prompt plus response in tokens.", lo=1)
    checkpoint_dir: Optional[str] = opt(None, "Where the job writes checkpoints: a path every node can read (shared "
                                              "storage).")
    entrypoint: list[str] = opt(None, "Entrypoint program; the default is OpenRLHF's. Tests name a CPU stand-in "
                                      "here.", factory=lambda: ["python3", "-m", "openrlhf.cli.train_ppo_ray"])
    timeout_s: float = opt(86400, "Seconds to wait for the job before giving up on it (the job keeps running on the "
                                  "cluster).", lo=0, open_lo=True)
    extra_args: list[str] = opt(None, 'More train_ppo_ray flags, passed as given (e.g. ["--algo.kl.estimator", '
                                      '"k3"]). Flags the recipe already sets, and --reward.normalize_enable (broken '
                                      "in 0.11.2), are refused.", factory=list)


@dataclass
class RLSettings:
    """What one RL run uses: every rl.* key but the list of seeds (config.RLRun adds its own)."""
    enabled: bool = opt(True, "Run RL.")
    engine: str = opt("trl", "The RL engine (rl.ENGINES): trl runs on one machine, openrlhf on a Ray cluster.",
                      choices=lambda: tuple(ENGINES))
    algorithm: str = opt("grpo", "The RL algorithm; which engine runs which is in rl.ALGORITHMS.",
                         choices=lambda: tuple(dict.fromkeys(a for algos in sorted(ALGORITHMS.values(), key=len,
                                                                                   reverse=True) for a in algos)))
    steps: int = opt(30, "Optimizer steps of a run.", lo=1)
    learning_rate: float = opt(1e-3, "The policy's learning rate.", lo=0, open_lo=True)
    kl_coef: float = opt(0.0, "Weight of the KL penalty to the starting policy (0: none).", lo=0)
    samples_per_prompt: int = opt(8, "Responses sampled per prompt (the group of GRPO and RLOO).", lo=1)
    prompts_per_step: int = opt(16, "Prompts per optimizer step.", lo=1)
    max_new_tokens: int = opt(24, "Longest response in tokens.", lo=1)
    temperature: float = opt(1.0, "Sampling temperature of the rollouts.", lo=0, open_lo=True)
    save_every: int = opt(10, "Steps between checkpoints; each checkpoint is evaluated.", lo=1)
    gradient_checkpointing: Optional[bool] = opt(None, "trl engine: recompute activations in the backward pass "
                                                       "(less memory, about a third more compute, the same "
                                                       "weights); null: on for policies of at least 1B parameters "
                                                       "or of unknown size, off below (TRL defaults to on).")
    openrlhf: OpenRLHFConfig = opt(None, "Cluster settings of the openrlhf engine.", factory=OpenRLHFConfig)


@dataclass
class RLConfig(RLSettings):
    seeds: list[int] = opt(None, "One rl_train node per seed, all sharing the RM and the policy: an RM's RL gain is "
                                 "the mean over its seeds, with a CI across seeds (run-to-run variance dominates "
                                 "RL).", factory=lambda: [0])
    rm_seeds: str = opt("first", "RMs trained with several seeds (train.seeds): first: RL uses each RM's first "
                                 "training seed; all: every RM seed is crossed with every rl.seeds (S_rm x S_rl "
                                 "runs), and an RM's RL gain is the mean over its RM seeds of the mean over RL seeds.",
                        choices=("first", "all"))


@dataclass
class RLRun(RLSettings):
    """One rl_train node's RL settings: the recipe's, with this node's seed (one of rl.seeds)."""
    seed: int = opt(0, "This run's seed.")


@dataclass
class EvalConfig:
    tasks: list[str] = opt(None, "lm-eval tasks (or task YAML paths) the policies are evaluated on.",
                                 factory=lambda: ["toy_sort"])
    limit: Optional[int] = opt(None, "Evaluate on the first `limit` documents of each task; null: all.", lo=1)
    batch_size: int = opt(64, "lm-eval batch size.", lo=1)
    samples: int = opt(1, "Responses per prompt (the task's lm-eval `repeats`); a policy's score is the mean of the "
                          "task's metric over them per prompt (pass@1 estimated from k samples). 1 with temperature "
                          "0: greedy.", lo=1)
    temperature: float = opt(0.0, "Sampling temperature of those responses; 0: greedy decoding (one response).", lo=0)
    top_p: float = opt(1.0, "Nucleus sampling mass of those responses.", lo=0, hi=1, open_lo=True)
    pass_at: list[int] = opt(None, "Also report pass@k for these k (unbiased estimator from `samples` responses; each "
                                   "k <= samples).", lo=1, each=True, factory=list)

    @property
    def sampled(self) -> bool:
        return self.samples > 1 or self.temperature > 0


@dataclass
class CompareConfig:
    bootstrap: int = opt(1000, "Bootstrap draws over RMs, items, prompts and seeds for the correlations' CIs.", lo=100)
    permutations: int = opt(10000, "Orderings of the RMs drawn for a verdict's permutation p-value when there are more "
                                   "than 8 RMs (up to 8, all orderings are counted).", lo=100)
    seed: int = opt(0, "Seed of those draws.")


@dataclass
class CostConfig:
    """What `rlhf-eval plan --cost` assumes (docs/cost.md). Throughputs are achieved, not peak,
    TFLOP/s per GPU: about 40% of an H100's dense bf16 peak for training and prefill, and a
    quarter of that for decoding, which memory bandwidth bounds."""
    train_tflops: float = opt(400.0, "Achieved training TFLOP/s per GPU.", lo=0, open_lo=True)
    infer_tflops: float = opt(400.0, "Achieved prefill TFLOP/s per GPU.", lo=0, open_lo=True)
    decode_tflops: float = opt(100.0, "Achieved decoding TFLOP/s per GPU.", lo=0, open_lo=True)
    prompt_tokens: int = opt(256, "Tokens per prompt.", lo=1)
    response_tokens: int = opt(512, "Tokens per response.", lo=1)
    train_pairs: int = opt(80000, "Preference pairs an RM trains on, when the data is only known after download.", lo=1)
    params_b: dict[str, float] = opt(None, "Model sizes in billions by card name, where the model id does not say it "
                                           '(e.g. "-8B").', lo=0, open_lo=True, each=True, factory=dict)
    benchmark_responses: dict[str, int] = opt(None, "Responses per benchmark, where not known before download (name "
                                                    "-> count).", lo=1, each=True, factory=dict)
    task_prompts: dict[str, int] = opt(None, "Prompts per evaluation task, where not known before download (name -> "
                                             "count).", lo=1, each=True, factory=dict)


@dataclass
class SlurmResources:
    partition: Optional[str] = opt(None, "Slurm partition; null: the cluster's default.")
    account: Optional[str] = opt(None, "Slurm account; null: the user's default.")
    qos: Optional[str] = opt(None, "Slurm QOS; null: the default.")
    nodes: int = opt(1, "Nodes per job.", lo=1)
    gpus_per_node: int = opt(0, "GPUs per node.", lo=0)
    cpus: int = opt(1, "CPUs per task.", lo=1)
    mem: Optional[str] = opt(None, "Slurm's own syntax: \"16G\", \"4000M\"; null: the partition's default per CPU.")
    time: str = opt("01:00:00", "Time limit, in Slurm's syntax (HH:MM:SS, D-HH:MM:SS).")
    constraint: Optional[str] = opt(None, "Slurm feature constraint (--constraint); null: none.")
    extra_sbatch: list[str] = opt(None, 'Raw "#SBATCH ..." options, e.g. ["--exclusive"]; checked against a safe '
                                        "pattern.", factory=list)


@dataclass
class SlurmConfig:
    defaults: SlurmResources = opt(None, "Resources of every job, unless its stage is in `stages`.",
                                         factory=SlurmResources)
    stages: dict[str, SlurmResources] = opt(None, "Per stage, replacing the defaults, e.g. {rl_train: "
                                                  '{gpus_per_node: 8, time: "12:00:00"}}.', factory=dict)
    setup: list[str] = opt(None, 'Shell lines run before the node, e.g. ["module load cuda/12.4", "source '
                                 '~/venv/bin/activate"].', factory=list)
    requeue: bool = opt(False, "Preemptible partitions: requeued jobs rerun their node, which restarts cleanly or "
                               "resumes.")
    arrays: bool = opt(True, "Sibling nodes (same stage, same inputs) go in one job array.")
    pack: bool = opt(False, "One job per wave of the plan for the nodes whose stage runs on `defaults` (no GPU, "
                            "one node): they run side by side through the local executor in that allocation, each "
                            "with its own log and manifest; GPU nodes keep a job each (docs/slurm.md).")
    ray_head_address: Optional[str] = opt(None, "Ray clusters in an allocation: the head's address the other nodes "
                                                "join, an IP (e.g. 10.0.0.5) or a network interface whose IPv4 "
                                                "address to use (e.g. ib0); null: the first address `hostname -I` "
                                                "gives, which may not be the routable one.")


@dataclass
class ReportConfig:
    exports: list[str] = opt(None, 'Optional exports, off by default: "leaderboard" (static results as RewardBench- '
                                   'leaderboard JSON), "tensorboard" (scalars and verdicts; needs `pip install '
                                   "tensorboard`).", factory=list, choices=lambda: EXPORTS)
    tensorboard_dir: Optional[str] = opt(None, "Where TensorBoard events go; null: <report node>/tensorboard.")


@dataclass
class RayTaskResources:
    num_cpus: float = opt(1, "CPUs a node's Ray task reserves.", lo=0)
    num_gpus: float = opt(0, "GPUs a node's Ray task reserves.", lo=0)


@dataclass
class RayExecutorConfig:
    address: Optional[str] = opt(None, 'null: start a local Ray; "auto", "HOST:6379" or "ray://HOST:10001": an '
                                       "existing cluster, whose workers must see this checkout, its interpreter and "
                                       "the run folder at the same paths.")
    defaults: RayTaskResources = opt(None, "Resources of every node's task, unless its stage is in `stages`.",
                                           factory=RayTaskResources)
    stages: dict[str, RayTaskResources] = opt(None, "Per stage, replacing the defaults, e.g. {train_rm: {num_gpus: "
                                                    "1}, rl_train: {num_cpus: 4}}.", factory=dict)
    max_retries: int = opt(1, "A node whose worker died is run again this many times (a node restarts cleanly or "
                              "resumes).", lo=0)
    warm: bool = opt(True, "Run each node in a process forked from a forkserver its Ray worker keeps, with torch, "
                           "transformers, TRL and lm-eval imported once; false: a fresh interpreter per node (seconds "
                           "of imports each). Either way a node has a process of its own.")


@dataclass
class LocalExecutorConfig:
    workers: Optional[int] = opt(None, "Nodes run side by side in this many worker processes, each started once "
                                       "and reused; 1: one by one in the `run` process. null: the CPUs this process "
                                       "may use divided by torch_threads (at most 8), or 1 when a GPU is visible.",
                                       lo=1)


@dataclass
class Recipe:
    name: str = opt(MISSING, "The run's name and folder (run_root/name): letters, digits, _ - + and . only.")
    run_root: str = opt("runs", "Folder the run folder goes in.")
    executor: str = opt("local", "local: nodes on this machine (`local:` below); ray: nodes as Ray tasks (`ray:` "
                                 "below). Slurm is `rlhf-eval submit`, not an executor of `run`.",
                          choices=lambda: tuple(EXECUTORS))
    torch_threads: Optional[int] = opt(1, "CPU threads of torch (and OMP_NUM_THREADS of the processes it starts) in "
                                          "every node, whatever the executor. Float sums, and so results, depend on "
                                          "it: a fixed count gives the same numbers on machines with different core "
                                          "counts, and 1 keeps a node fast on a busy machine. null: torch's default "
                                          "(every core; results then depend on the machine). Part of every node's key "
                                          "unless 1, so runs at different counts share no node. Recorded in each "
                                          "node's manifest.", lo=1)
    local: LocalExecutorConfig = opt(None, "The local executor's settings.", factory=LocalExecutorConfig)
    ray: RayExecutorConfig = opt(None, "The ray executor's settings.", factory=RayExecutorConfig)
    slurm: SlurmConfig = opt(None, "`rlhf-eval submit`'s settings.", factory=SlurmConfig)
    toy_world: Optional[ToyWorldConfig] = opt(None, "The embedded toy world; null for real models and data.",
                                                    factory=ToyWorldConfig)
    sources: list[SourceConfig] = opt(None, "Preference data sources; empty: the toy world's.", factory=list)
    curate: CurateConfig = opt(None, "Curation of the sources into the training mix.", factory=CurateConfig)
    reward_models: list[str] = opt(None, "RM cards (reward_models/<name>.yaml) compared in this run.", factory=list)
    rm_seeds: Optional[list[int]] = opt(None, "Training seeds of every RM card that is trained here and lists no "
                                              "train.seeds of its own (see train.seeds); null: each card's own.")
    policies: list[str] = opt(None, "Policy cards (policies/<name>.yaml) best-of-n and RL start from.",
                                    factory=lambda: ["toy-policy"])
    static_bench: StaticBenchConfig = opt(None, "Static benchmarks every RM is scored on.", factory=StaticBenchConfig)
    bon: BonConfig = opt(None, "Best-of-n sweeps.", factory=BonConfig)
    rl: RLConfig = opt(None, "RL with each RM.", factory=RLConfig)
    eval: EvalConfig = opt(None, "Evaluations of the policies and RL checkpoints.", factory=EvalConfig)
    compare: CompareConfig = opt(None, "The comparison of static and downstream rankings.", factory=CompareConfig)
    report: ReportConfig = opt(None, "The report's exports.", factory=ReportConfig)
    cost: CostConfig = opt(None, "What `rlhf-eval plan --cost` assumes.", factory=CostConfig)


# --------------------------------------------------------------------------- cards
@dataclass
class RMTrainConfig:
    dataset: str = opt("curated", "\"curated\" (the curate stage's output) or \"raw\" (every source, uncurated).",
                       choices=("curated", "raw"))
    sources: Optional[list[str]] = opt(None, "Train only on pairs of these sources; null: all.")
    max_pairs: Optional[int] = opt(None, "Train on at most this many pairs (a seeded sample); null: all.", lo=1)
    epochs: float = opt(1.0, "Passes over the training pairs.", lo=0, open_lo=True)
    learning_rate: float = opt(1e-3, "Peak learning rate.", lo=0, open_lo=True)
    lr_scheduler: str = opt("cosine", "transformers' lr_scheduler_type after the warm-up.",
                            choices=("cosine", "linear", "constant", "constant_with_warmup"))
    warmup_ratio: float = opt(0.05, "Warm-up steps as a fraction of all steps (rounded down, at least one).",
                                    lo=0, hi=1)
    center_rewards_coefficient: Optional[float] = opt(0.01, "Classifier RMs: weight of the (r_chosen + "
                                                            "r_rejected)^2 penalty that keeps rewards centred at 0 "
                                                            "(TRL's RewardConfig); null: none.", lo=0)
    batch_size: int = opt(32, "Pairs per optimizer step.", lo=1)
    beta: float = opt(0.1, "DPO beta of an implicit RM (its reward is beta times the log-ratio).", lo=0, open_lo=True)
    max_length: int = opt(64, "Longest training sequence in tokens.", lo=1)
    seed: int = opt(0, "Seed of initialization, sampling and data order.")
    seeds: Optional[list[int]] = opt(None, "Train one RM per seed (each its own train_rm node; adding a seed keeps the "
                                           "others' nodes): the RM's numbers are means over its seeds, and their "
                                           "intervals and reliabilities include seed-to-seed variance, so the claims "
                                           "are about the training recipe, not one checkpoint. null: the recipe's "
                                           "`rm_seeds`, else `seed` alone.")
    gradient_checkpointing: Optional[bool] = opt(None, "Recompute activations in the backward pass: less memory, "
                                                       "about a third more compute, the same weights. null: on for "
                                                       "bases of at least 1B parameters, off below (TRL defaults to "
                                                       "on).")


@dataclass
class JudgeConfig:
    mode: str = opt("pointwise", "pointwise: one score per response; pairwise: a verdict on two responses, always "
                                 "asked in both orders (the flip rate is the judge's position bias). A pairwise "
                                 "judge runs in static benchmarks with a pairwise protocol and in best-of-n, not in "
                                 "RL (it gives no reward to one response).", choices=lambda: tuple(JUDGE_PARSERS))
    template: Optional[str] = opt(None, "The judge prompt: a jinja file or an inline template with {{ prompt }} and "
                                        "{{ response }} (pointwise) or {{ response_a }} and {{ response_b }} "
                                        "(pairwise); null: the built-in one for the mode (docs/generative.md).")
    system: Optional[str] = opt(None, "A system message sent before the judge prompt; null: none.")
    chat: bool = opt(True, "true: the rendered template is one user message, sent through the judge's chat "
                           "template; false: it is raw text that the judge's answer continues (completion-style "
                           "judges such as PandaLM and JudgeLM; the openai backend sends it to the completions "
                           "endpoint).")
    parser: Optional[str] = opt(None, "How an answer becomes a score. pointwise: verdict_token (P(yes) / (P(yes) + "
                                      "P(no)) of the judge's next token, yes_token and no_token) or rating (a "
                                      "number matched by rating_pattern); pairwise: decision ([[A>B]], [[A>>B]], "
                                      "[[A=B]], [[A]], [[B]], [[C]] for a tie, or a bare A / B). null: verdict_token / "
                                      "decision.")
    yes_token: str = opt("yes", "verdict_token: the token that means the response is good (quote yes and no in "
                                "YAML, which reads them unquoted as true and false).")
    no_token: str = opt("no", "verdict_token: the token that means it is not.")
    rating_pattern: str = opt(r"\[\[(\d+(?:\.\d+)?)\]\]", "rating: a regular expression whose group 1 is the "
                                                            "rating; an answer with none, or with two different "
                                                            "ones, is a parse failure.")
    temperature: float = opt(0.0, "Sampling temperature of the judge (0: greedy).", lo=0)
    max_new_tokens: int = opt(256, "Longest judge answer in tokens.", lo=1)
    model: Optional[str] = opt(None, "backend openai: the model name the endpoint serves; null: the card's name.")
    concurrency: int = opt(8, "backend openai: requests in flight at once.", lo=1)
    retries: int = opt(3, "backend openai: retries of a failed request, with exponential backoff.", lo=0)
    timeout_s: float = opt(60.0, "backend openai: seconds before a request is abandoned (then retried).", lo=0,
                           open_lo=True)
    price_input_per_mtok: float = opt(0.0, "backend openai: price per million prompt tokens, for the cost each "
                                           "node reports.", lo=0)
    price_output_per_mtok: float = opt(0.0, "backend openai: price per million answer tokens.", lo=0)


JUDGE_PARSERS = {"pointwise": ("verdict_token", "rating"), "pairwise": ("decision",)}


@dataclass
class RMCard:
    name: str = opt(MISSING, "The card's name; its file is reward_models/<name>.yaml.")
    kind: str = opt("classifier", "classifier: *ForSequenceClassification with a scalar head; implicit: a DPO-tuned "
                                  "policy, reward = beta * log pi(y|x) / pi_ref(y|x); generative: an LLM judge "
                                  "answering a prompt (`judge:` below).", choices=lambda: tuple(RM_KINDS))
    base: str = opt("toy-policy", 'The model training starts from: a policy card name, "hf:<org>/<name>", or a local '
                                  "path.")
    path: Optional[str] = opt(None, 'A trained checkpoint to use as is ("hf:<org>/<name>" or a local path); when '
                                    "set, nothing is trained.")
    reference: Optional[str] = opt(None, "Reference model of an implicit RM given by path (defaults to base).")
    train: RMTrainConfig = opt(None, "How the RM is trained (when `path` is null).", factory=RMTrainConfig)
    batch_size: int = opt(64, "Scoring: rows are sorted by length and batched, so a batch pads only to its own "
                              "longest row.", lo=1)
    max_length: int = opt(256, "Longer inputs keep their last max_length tokens (a classifier reads the last token); "
                               "every truncation is counted in the static_bench and bon_score outputs.", lo=1)
    chat_template: Optional[str] = opt(None, "Chat template for scoring: a jinja file or an inline template; null = "
                                             "the tokenizer's own.")
    trust_remote_code: bool = opt(False, "Load model code from the checkpoint: only for a card that opts in.")
    backend: str = opt("transformers", "Scoring engine: transformers, vllm (GPU; its pooling runner, or "
                                       "generate for judges), remote: an HTTP server speaking OpenRLHF's remote-RM "
                                       "protocol at `url` (for RMs that do not share the policy's tokenizer), or "
                                       "openai (generative judges): an OpenAI-compatible chat-completions endpoint "
                                       "at `url`. Remote and openai RMs are never trained here.",
                       choices=lambda: tuple(SCORERS))
    url: Optional[str] = opt(None, "backend remote: the server's URL (e.g. http://host:5000/get_reward); backend "
                                   "openai: the API's base URL (e.g. http://host:8000/v1).")
    api_key_env: Optional[str] = opt(None, "Name of the environment variable holding the server's bearer token or "
                                           "API key.")
    engine_args: dict[str, Any] = opt(None, "backend vllm: passed to vllm.LLM as is.", factory=dict)
    judge: JudgeConfig = opt(None, "kind generative: the judge's prompt, parser and sampling.", factory=JudgeConfig)


@dataclass
class GenerationConfig:
    """Every sampling field is passed to the engine explicitly (gen.base.Settings): neither
    transformers' own top_k=50 nor a checkpoint's generation_config.json applies."""
    temperature: float = opt(1.0, "Sampling temperature (0: greedy).", lo=0)
    top_p: float = opt(1.0, "Nucleus sampling.", lo=0, hi=1, open_lo=True)
    top_k: int = opt(0, "Sample among the k most likely tokens (0: no cut-off).", lo=0)
    min_p: float = opt(0.0, "Drop tokens less likely than min_p times the most likely one (0: off).", lo=0, hi=1)
    repetition_penalty: float = opt(1.0, "Repetition penalty, as in transformers and vLLM (1: off).", lo=0,
                                    open_lo=True)
    max_new_tokens: int = opt(24, "Longest response in tokens.", lo=1)


@dataclass
class PolicyCard:
    name: str = opt(MISSING, "The card's name; its file is policies/<name>.yaml.")
    path: str = opt(MISSING, "\"toy:policy\" for the toy world's SFT policy, \"hf:<org>/<name>\" for a hub model "
                             "(machines with network), or a local path to an HF checkpoint.")
    backend: str = opt("transformers", "transformers (CPU default) or vllm (GPU; pip install rlhf-eval[vllm]); "
                                       "gen.SAMPLERS holds them.", choices=lambda: tuple(SAMPLERS))
    engine_args: dict[str, Any] = opt(None, "Passed to vllm.LLM as is, e.g. {tensor_parallel_size: 2, "
                                            "gpu_memory_utilization: 0.8}.", factory=dict)
    generation: GenerationConfig = opt(None, "Sampling defaults, which bon.* may override.", factory=GenerationConfig)
    trust_remote_code: bool = opt(False, "Load model code from the checkpoint: only for a card that opts in.")


EXPORTS = ("leaderboard", "tensorboard")
# Model references that are not local paths: the toy world's models and hub ids.
MODEL_REFS = ("toy:", "hf:")
