"""train_rm's run() on the tiny toy world: retraining with the same seed gives the same loss and
an RM that scores as the first did; the RMTrainConfig fields reach TRL's own config."""
from dataclasses import asdict

import pytest

from rlhf_eval.config import RMTrainConfig
from rlhf_eval.rm.base import load_scorer
from rlhf_eval.rm.train_trl import _common_args


@pytest.mark.parametrize("nth", [0, 1, 2])  # the judge, then each RM of the smoke recipe
def test_train_rm_run_is_reproducible(rerun, nth):
    new, before = rerun("train_rm", nth)
    out, old = new["outputs"], before["outputs"]
    assert out["steps"] == old["steps"] and out["n_pairs"] == old["n_pairs"] and out["kind"] == old["kind"]
    assert out["train_loss"] == pytest.approx(old["train_loss"], rel=1e-5)
    prompts = ["sort these letters in alphabetical order : c a b"] * 2
    responses = ["the sorted letters are : a b c done", "the sorted letters are : b a c"]
    assert load_scorer(new).score(prompts, responses) == pytest.approx(load_scorer(before).score(prompts, responses),
                                                                       abs=1e-4)


def test_rm_train_config_reaches_trl(tmp_path):
    from trl import DPOConfig, RewardConfig

    train = RMTrainConfig(batch_size=4, lr_scheduler="linear", warmup_ratio=0.2, center_rewards_coefficient=None)
    args = _common_args(train, tmp_path, n_pairs=40)  # 10 steps
    assert args["max_steps"] == 10 and args["warmup_steps"] == 2 and args["lr_scheduler_type"] == "linear"
    reward = RewardConfig(**args, center_rewards_coefficient=train.center_rewards_coefficient)
    assert reward.center_rewards_coefficient is None and reward.lr_scheduler_type.value == "linear"
    assert _common_args(RMTrainConfig(batch_size=4), tmp_path, n_pairs=40)["warmup_steps"] == 1  # at least one
    assert DPOConfig(**_common_args(RMTrainConfig(**asdict(train)), tmp_path, 40), beta=0.1).warmup_steps == 2
