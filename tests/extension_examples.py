"""One new implementation per extension point, as a user would add them: each is this module plus
one line in its registry (test_extensions.py adds the lines)."""
from rlhf_eval.bench.base import Benchmark
from rlhf_eval.bench.generic import aggregate, item_outcomes, pairwise_item


class EchoSampler:
    """A generation backend: repeats the prompt's last word."""

    def __init__(self, path, settings, seed, batch_size, trust_remote_code=False, engine_args=None):
        self.tok, self.seed = None, seed

    def sample(self, contexts, n, max_new_tokens, until=None, block=0, progress=None):
        return [[c.split()[-1]] * n for c in contexts]


class LengthScorer:
    truncated = 0

    def score(self, prompts, responses):
        return [float(len(r)) for r in responses]

    def score_texts(self, queries, prompts):
        return [float(len(q) - len(p)) for q, p in zip(queries, prompts)]


def load_length_scorer(rm):
    """An RM scoring backend: reward = response length."""
    return LengthScorer()


def record_nodes(run_dir, nodes, console, recipe=None, address=None):
    """An executor that runs nothing and lists the nodes it was given."""
    console.print(f"would run {len(nodes)} nodes")
    return {}


def constant_engine(ctx, job, progress):
    """An RL engine that returns the starting policy as its only checkpoint."""
    progress(job.rl.steps)
    return {"path": job.policy_path, "checkpoints": [{"step": job.rl.steps, "path": job.policy_path}],
            "history": []}


MINI = Benchmark("mini-pairwise", "id", None, pairwise_item, item_outcomes, aggregate, "[chosen, rejected]",
                 takes_columns=True)


def load_as_given(rm):
    """An RM scoring backend that hands back what it was given (for what load_scorer passes on)."""
    return rm
