"""RL with an RM as reward. Engines are registered in ENGINES: `name -> "module:train"`, each
`train(ctx, job: rl.base.RLJob, progress) -> outputs`; ALGORITHMS says what each engine runs (the
config checks recipes against it). A new engine is one module and one line in each table."""
from rlhf_eval.registry import Registry

ENGINES = Registry("RL engine", {
    "trl": "rlhf_eval.rl.trl_engine:train",  # this machine
    "openrlhf": "rlhf_eval.rl.openrlhf_engine:train",  # a Ray cluster, through the Ray Jobs SDK
})
# What an engine refuses in a recipe before anything runs: check(rl, rm_cards) -> [problems].
RECIPE_CHECKS = Registry("RL engine's recipe check", {"openrlhf": "rlhf_eval.rl.openrlhf_cmd:check_recipe"})
ALGORITHMS = {"trl": ("grpo", "rloo"), "openrlhf": ("ppo", "grpo", "rloo", "reinforce++")}
