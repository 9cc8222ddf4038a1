"""Statistics of the answer: does the static ranking of RMs predict the downstream one?

`correlate_units(static, downstream, method="spearman", draws=1000, seed=0)` is the public entry
point for numbers made elsewhere; the compare stage and `rlhf-eval compare` use the same code
(`stats.correlate`). Imports stay light: numpy and scipy only.
"""
from rlhf_eval.compare.stats import correlate_units

__all__ = ["correlate_units"]
