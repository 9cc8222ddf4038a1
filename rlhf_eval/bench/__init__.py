"""Static RM benchmarks. Each is registered in BENCHMARKS: `name -> "module:Benchmark object"`
(bench.base.Benchmark: how rows become items, and how items' scores become the official metrics);
TOY maps each toy-world benchmark to the real one whose rules score it. A new benchmark is one
module and one line here; help texts and the config's checks read these tables."""
from rlhf_eval.registry import Registry


def _is_benchmark(obj) -> str | None:
    from rlhf_eval.bench.base import Benchmark
    return None if isinstance(obj, Benchmark) else f"is not a bench.base.Benchmark (a {type(obj).__name__})"


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
}, check=_is_benchmark)
TOY = {"toy_rewardbench": "rewardbench", "toy_rewardbench2": "rewardbench2", "toy_rmbench": "rm-bench",
       # Built only with toy_world.study: one axis of the planted truth each.
       "toy_correct": "pairwise", "toy_marker": "pairwise"}
