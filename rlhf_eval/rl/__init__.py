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


def algorithm_problem(engine: str, algorithm: str) -> str | None:
    """Why `engine` cannot run `algorithm` (naming what it runs, and an engine that runs it), or
    None: the one check, made on the recipe at load and again on a node's params before it runs."""
    if algorithm in ALGORITHMS.get(engine, ()):
        return None
    others = [e for e, algos in ALGORITHMS.items() if algorithm in algos]
    return (f"rl.algorithm={algorithm} cannot run on rl.engine={engine}: use "
            f"{' or '.join(ALGORITHMS.get(engine, ())) or 'a registered engine'} there"
            + (f", or rl.engine={others[0]}" if others else ""))
