"""RM training seeds in the plan: one train_rm node per seed, the cheap stages per seed, RL on the
first seed unless rl.rm_seeds crosses them, and keys that survive adding a seed."""
from collections import Counter
from pathlib import Path

from rlhf_eval.config import load_recipe
from rlhf_eval.pipeline import expand

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / "recipes" / "smoke.yaml"


def card(tmp_path, monkeypatch, seeds: str) -> None:
    """A copy of classifier-curated with these train.seeds, found first through RLHF_EVAL_CARDS."""
    folder = tmp_path / "reward_models"
    folder.mkdir(exist_ok=True)
    (folder / "classifier-curated.yaml").write_text(
        "name: classifier-curated\nkind: classifier\nbase: toy-policy\n"
        f"train: {{dataset: curated, epochs: 4, learning_rate: 0.001, batch_size: 32{seeds}}}\n")
    monkeypatch.setenv("RLHF_EVAL_CARDS", str(tmp_path))


def by_stage(nodes) -> Counter:
    return Counter(n.stage for n in nodes)


def test_each_seed_is_a_node_and_adding_one_keeps_the_others_keys(tmp_path, monkeypatch):
    card(tmp_path, monkeypatch, "")
    one = expand(load_recipe(SMOKE))
    card(tmp_path, monkeypatch, ", seeds: [0, 1]")
    two = expand(load_recipe(SMOKE))
    card(tmp_path, monkeypatch, ", seeds: [0, 1, 2]")
    three = expand(load_recipe(SMOKE))
    keys = [{n.key for n in nodes if n.stage != "compare" and n.stage != "report"} for nodes in (one, two, three)]
    assert keys[0] <= keys[1] <= keys[2]  # seed 0 is the card without seeds; seed 1 stays when 2 comes
    seeds = sorted(n.params["card"]["train"]["seed"] for n in three
                   if n.stage == "train_rm" and n.params["card"]["name"] == "classifier-curated")
    assert seeds == [0, 1, 2] and all("seeds" not in n.params["card"]["train"] for n in three if n.stage == "train_rm")
    # the cheap stages run per seed (3 benchmarks x 2 more seeds; one more bon_score/eval/signal per seed)
    more = by_stage(three) - by_stage(one)
    assert more == Counter({"train_rm": 2, "static_bench": 6, "bon_score": 2, "bon_eval": 2, "bon_signal": 2})
    assert {n.label for n in three if n.stage == "static_bench"} >= {
        "rm=classifier-curated rm_seed=2 bench=toy_rmbench", "rm=dpo-curated bench=toy_rmbench"}
    # RL uses the first seed: the rl_train nodes are the same as without seeds
    assert {n.key for n in three if n.stage == "rl_train"} == {n.key for n in one if n.stage == "rl_train"}


def test_the_recipe_default_applies_to_cards_trained_here_and_rl_can_cross_seeds(tmp_path, monkeypatch):
    card(tmp_path, monkeypatch, "")
    nodes = expand(load_recipe(SMOKE, ["rm_seeds=[0,1]", "rl.seeds=[0,1]", "rl.rm_seeds=all"]))
    trained = Counter(n.params["card"]["name"] for n in nodes if n.stage == "train_rm" and "card" in n.params)
    assert trained["classifier-curated"] == 2 and trained["dpo-curated"] == 2 and trained["judge-clean"] == 1
    rl = [n for n in nodes if n.stage == "rl_train"]
    assert len(rl) == 2 * 2 * 2  # 2 RMs x 2 RM seeds x 2 RL seeds
    assert {n.label for n in rl} >= {"rm=dpo-curated policy=toy-policy seed=1 rm_seed=1"}
    finals = [n for n in nodes if n.stage == "policy_eval" and n.params["rm"] and n.params["final"]]
    assert sorted((n.params["rm_seed"], n.params["seed"]) for n in finals if n.params["rm"] == "dpo-curated") == [
        (0, 0), (0, 1), (1, 0), (1, 1)]
    # first (the default): one RM seed per RL run, and the RL nodes' keys are those of a recipe without RM seeds
    first = expand(load_recipe(SMOKE, ["rm_seeds=[0,1]", "rl.seeds=[0,1]"]))
    plain = expand(load_recipe(SMOKE, ["rl.seeds=[0,1]"]))
    assert {n.key for n in first if n.stage == "rl_train"} == {n.key for n in plain if n.stage == "rl_train"}
