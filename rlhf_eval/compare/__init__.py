"""Statistics of the answer: does the static ranking of RMs predict the downstream one?

Two public entry points for numbers made elsewhere (per-unit values, means with standard errors,
or means alone; see `measures`):
- `correlate_units(static, downstream, method="spearman", draws=1000, seed=0)`: one correlation,
  its CI over RMs, reliabilities and the disattenuated correlation;
- `verdict_table(static, downstream, draws=1000, seed=0)`: a whole table of static metrics
  against downstream measures as one family (permutation p-values over RMs, Holm-adjusted
  verdicts, a global test, the RMs each verdict rests on).
The compare stage, `rlhf-eval compare` and `rlhf-eval correlate` use the same code. Imports stay
light: numpy and scipy only.
"""
from rlhf_eval.compare.stats import correlate_units
from rlhf_eval.compare.verdicts import verdict_table

__all__ = ["correlate_units", "verdict_table"]
