"""Static RM benchmarks. Each is registered in BENCHMARKS: `name -> "module:Benchmark object"`
(bench.base.Benchmark: how rows become items, and how items' scores become the official metrics);
TOY maps each toy-world benchmark to the real one whose rules score it. A new benchmark is one
module and one line here; help texts and the config's checks read these tables."""
from __future__ import annotations

from typing import TYPE_CHECKING

from rlhf_eval.errors import UserError
from rlhf_eval.registry import Registry, did_you_mean, instance_of

if TYPE_CHECKING:
    from rlhf_eval.bench.base import Benchmark


BENCHMARKS = Registry("benchmark", {
    "rewardbench": "rlhf_eval.bench.rewardbench:BENCHMARK",
    "rewardbench2": "rlhf_eval.bench.rewardbench2:BENCHMARK",
    "rm-bench": "rlhf_eval.bench.rmbench:BENCHMARK",
    "judgebench": "rlhf_eval.bench.judgebench:BENCHMARK",
    "rmb-bon": "rlhf_eval.bench.rmb:BEST_OF_N",
    "rmb-pairwise": "rlhf_eval.bench.rmb:PAIRWISE",
    "ppe-preference": "rlhf_eval.bench.ppe_sets:PREFERENCE",
    "ppe-correctness": "rlhf_eval.bench.ppe_sets:CORRECTNESS",
    "pairwise": "rlhf_eval.bench.generic:PAIRWISE",
    "best-of-k": "rlhf_eval.bench.generic:BEST_OF_K",
}, check=instance_of("rlhf_eval.bench.base:Benchmark"))
TOY = {"toy_rewardbench": "rewardbench", "toy_rewardbench2": "rewardbench2", "toy_rmbench": "rm-bench",
       # Built only with toy_world.study: one axis of the planted truth each.
       "toy_correct": "pairwise", "toy_marker": "pairwise",
       # Built only with toy_world.study.shift_shares: off-policy pairs, and the policy's own samples.
       "toy_offpolicy": "pairwise", "toy_onpolicy": "pairwise"}
# Robustness probes of static_bench (bench.probes runs them).
PROBES = ("strip_marker", "truncate", "markdown_to_plain", "repeated_letter")


def benchmark_for(name: str, scored_as: str | None = None) -> Benchmark:
    """The registered benchmark whose rules score `name`: `scored_as`, a toy benchmark's real
    one, or `name` itself."""
    key = scored_as or TOY.get(name, name)
    if scored_as is not None and scored_as in TOY:
        raise UserError(f"scored_as: '{scored_as}' is a toy benchmark, a dataset; scored_as names the rules that "
                        f"score one: a real benchmark ('{TOY[scored_as]}' scores {scored_as}; registered: "
                        f"{', '.join(BENCHMARKS)})")
    if key not in BENCHMARKS:
        raise UserError(f"unknown benchmark '{key}'{did_you_mean(key, list(BENCHMARKS) + list(TOY))}; registered: "
                        f"{', '.join(list(BENCHMARKS) + list(TOY))}")
    return BENCHMARKS.load(key)
