"""Best-of-n: sample once, score with every RM, and compute exact curves for every n."""
from rlhf_eval.bon.estimator import anti_oracle_curve, expected_best_of_n, kl_bound, oracle_curve, per_prompt_best_of_n

__all__ = ["expected_best_of_n", "per_prompt_best_of_n", "oracle_curve", "anti_oracle_curve", "kl_bound"]
