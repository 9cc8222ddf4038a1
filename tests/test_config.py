import re
from pathlib import Path

import pytest

from rlhf_eval.config import ConfigError, load_recipe
from rlhf_eval.pipeline import expand

ROOT = Path(__file__).resolve().parent.parent
QUICK = ROOT / "recipes" / "quickstart.yaml"


def test_quickstart_loads_with_cards():
    loaded = load_recipe(QUICK)
    assert loaded.recipe.name == "quickstart"
    assert loaded.reward_models["dpo-curated"].kind == "implicit"
    assert loaded.policies["toy-policy"].path == "toy:policy"


def test_override_sets_typed_value():
    loaded = load_recipe(QUICK, ["bon.n_max=32", "bon.n_grid=[1,32]", "name=other"])
    assert loaded.recipe.bon.n_max == 32 and loaded.recipe.bon.n_grid == [1, 32]
    assert loaded.run_dir == Path("runs/other")


def test_unknown_key_in_file_names_closest(tmp_path):
    recipe = tmp_path / "recipes" / "r.yaml"
    recipe.parent.mkdir()
    recipe.write_text("name: r\nreward_models: [a]\nbon: {n_mxa: 4}\n")
    with pytest.raises(ConfigError, match=r"unknown key 'bon.n_mxa' \(did you mean 'n_max'\?\)"):
        load_recipe(recipe)


def test_unknown_override_names_closest():
    with pytest.raises(ConfigError, match=r"override: unknown key 'rl.stpes' \(did you mean 'steps'\?\)"):
        load_recipe(QUICK, ["rl.stpes=3"])


def test_wrong_type_names_key():
    with pytest.raises(ConfigError, match="bon.n_max"):
        load_recipe(QUICK, ["bon.n_max=many"])


def test_bad_choice():
    with pytest.raises(ConfigError, match="rl.algorithm='dqn' is not one of ppo, grpo, rloo, reinforce"):
        load_recipe(QUICK, ["rl.algorithm=dqn"])


def test_missing_rm_card_names_closest():
    with pytest.raises(ConfigError, match=r"no card 'dpo-curatd' in reward_models/ \(did you mean 'dpo-curated'\?\)"):
        load_recipe(QUICK, ["reward_models=[dpo-curatd]"])


def write_card(root, monkeypatch, folder: str, name: str, text: str) -> None:
    cards = root / folder
    cards.mkdir(exist_ok=True)
    (cards / f"{name}.yaml").write_text(text)
    monkeypatch.setenv("RLHF_EVAL_CARDS", str(root))


def test_rm_card_path_that_does_not_exist(tmp_path, monkeypatch):
    write_card(tmp_path, monkeypatch, "reward_models", "gone", "name: gone\npath: /nonexistent/model\n")
    with pytest.raises(ConfigError, match="RM card 'gone': path '/nonexistent/model' does not exist"):
        load_recipe(QUICK, ["reward_models=[gone]"])


def test_unknown_key_in_card(tmp_path, monkeypatch):
    write_card(tmp_path, monkeypatch, "reward_models", "typo", "name: typo\ntrain: {epoch: 2}\n")
    with pytest.raises(ConfigError, match=r"typo.yaml: unknown key 'train.epoch' \(did you mean 'epochs'\?\)"):
        load_recipe(QUICK, ["reward_models=[typo]"])


def test_n_grid_outside_n_max():
    with pytest.raises(ConfigError, match="bon.n_grid has 32"):
        load_recipe(QUICK, ["bon.n_grid=[1,32]"])


def test_policy_path_that_does_not_exist(tmp_path, monkeypatch):
    write_card(tmp_path, monkeypatch, "policies", "mine", "name: mine\npath: /nonexistent/policy\n")
    with pytest.raises(ConfigError, match="policy card 'mine': path '/nonexistent/policy' does not exist"):
        load_recipe(QUICK, ["policies=[mine]"])


def test_benchmarks_as_names_or_mappings():
    loaded = load_recipe(QUICK, ["static_bench.benchmarks=[toy_rmbench, {name: jb, scored_as: judgebench, "
                                 "data: x.jsonl}]"])
    names = [(b.name, b.scored_as, b.data) for b in loaded.recipe.static_bench.benchmarks]
    assert names == [("toy_rmbench", None, None), ("jb", "judgebench", "x.jsonl")]
    assert [p.name for p in loaded.recipe.static_bench.probes] == ["strip_marker", "truncate"]


@pytest.mark.parametrize("override, message", [
    ("static_bench.benchmarks=[rewardbench3]", r"unknown benchmark 'rewardbench3' \(did you mean 'rewardbench'\?\)"),
    ("static_bench.benchmarks=[{name: rewardbench, sorce: x}]", r"unknown key 'static_bench.benchmarks\[0\].sorce'"),
    ("static_bench.benchmarks=[{name: rewardbench, columns: {prompt: q}}]", "columns apply to pairwise and best-of-k"),
    ("static_bench.probes=[{name: truncat}]", r"probes\[0\].name='truncat' is not one of .* \(did you mean 'truncate'"),
    ("static_bench.probes=[{name: strip_marker}]", "strip_marker needs `marker`"),
])
def test_benchmark_and_probe_errors(override, message):
    with pytest.raises(ConfigError, match=message):
        load_recipe(QUICK, [override])


def test_rl_algorithm_engine_mismatch_names_what_runs():
    with pytest.raises(ConfigError, match=r"rl.algorithm=ppo cannot run on rl.engine=trl: use grpo or rloo "
                                          r"there, or rl.engine=openrlhf"):
        load_recipe(QUICK, ["rl.algorithm=ppo"])
    assert load_recipe(QUICK, ["rl.algorithm=ppo", "rl.engine=openrlhf"]).recipe.rl.engine == "openrlhf"


def test_rl_seeds_make_one_node_each_and_must_be_distinct():
    loaded = load_recipe(ROOT / "recipes" / "smoke.yaml", ["rl.seeds=[3,4,5]"])
    nodes = expand(loaded)
    rl = [n for n in nodes if n.stage == "rl_train"]
    assert sorted(n.params["rl"]["seed"] for n in rl) == [3, 3, 4, 4, 5, 5]
    assert all("seeds" not in n.params["rl"] for n in rl)
    assert {n.label for n in rl} >= {"rm=dpo-curated policy=toy-policy seed=4"}
    # Adding a seed keeps the other seeds' nodes (their keys do not hold the list).
    more = {n.key for n in expand(load_recipe(ROOT / "recipes" / "smoke.yaml", ["rl.seeds=[3,4,5,6]"]))}
    assert {n.key for n in rl} <= more
    evals = [n for n in nodes if n.stage == "policy_eval" and n.params["rm"]]
    assert sorted({n.params["seed"] for n in evals}) == [3, 4, 5]
    with pytest.raises(ConfigError, match=r"rl.seeds=\[1, 1\] must list at least one seed, each once"):
        load_recipe(ROOT / "recipes" / "smoke.yaml", ["rl.seeds=[1,1]"])


def test_every_recipe_loads_and_the_study_has_its_two_axes():
    for path in sorted((ROOT / "recipes").glob("*.yaml")):
        loaded = load_recipe(path)
        assert expand(loaded), path
    study = load_recipe(ROOT / "recipes" / "study.yaml")
    assert len(study.recipe.reward_models) == 24 and study.recipe.rl.seeds == [0, 1, 2]
    cards = study.reward_models.values()
    assert {tuple(c.train.sources) for c in cards} == {(f"noise-{q:02d}", f"marker-{m:03d}")
                                                      for q in (0, 10, 20, 30, 40, 50) for m in (0, 33, 67, 100)}


@pytest.mark.parametrize("card, error", [
    ("kind: generative\njudge: {mode: pairwise, parser: rating}\n",
     "judge.parser=rating does not read pairwise answers; use decision"),
    ("kind: generative\njudge: {parser: decision}\n",
     "judge.parser=decision does not read pointwise answers; use verdict_token or rating"),
    ("kind: generative\njudge: {mode: listwise}\n", "judge.mode='listwise' is not one of pointwise, pairwise"),
    ("kind: generative\nbackend: remote\nurl: http://h/get_reward\n",
     "the remote backend cannot score generative RMs"),
    ("kind: generative\njudge: {temperature: -1}\n", "judge.temperature=-1"),
    ("kind: generative\njudge: {yes_token: yes}\n", "judge.yes_token is True: YAML reads an unquoted yes/no"),
    ("kind: generative\nbackend: openai\n", "backend openai needs `url`"),
])
def test_generative_cards_are_checked(tmp_path, monkeypatch, card, error):
    write_card(tmp_path, monkeypatch, "reward_models", "judge", f"name: judge\n{card}")
    with pytest.raises(ConfigError, match=re.escape(error)):
        load_recipe(QUICK, ["reward_models=[judge]"])


def test_the_old_top_level_seed_still_loads_as_bon_bootstrap_seed(tmp_path):
    """`seed` (which only ever seeded best-of-n's bootstrap) is now bon.bootstrap_seed: a recipe
    with the old key loads with a warning and plans the same nodes; both at once is refused."""
    old = tmp_path / "old.yaml"
    old.write_text("seed: 3\n" + QUICK.read_text())
    with pytest.warns(FutureWarning, match="`seed` is now `bon.bootstrap_seed`"):
        loaded = load_recipe(old, [f"run_root={tmp_path}"])
    assert loaded.recipe.bon.bootstrap_seed == 3
    new = load_recipe(QUICK, [f"run_root={tmp_path}", "bon.bootstrap_seed=3"])
    assert [n.key for n in expand(loaded)] == [n.key for n in expand(new)]
    with pytest.raises(ConfigError, match="`seed` is now `bon.bootstrap_seed`; give only `bon.bootstrap_seed`"):
        load_recipe(QUICK, ["seed=1", "bon.bootstrap_seed=2"])


# issue 34, item 5: adding one's own RM
def test_append_overrides_add_to_a_list_or_its_default(tmp_path, monkeypatch):
    write_card(tmp_path, monkeypatch, "reward_models", "mine", "kind: classifier\npath: /\n")
    loaded = load_recipe(QUICK, ["reward_models+=[mine]", "rl.seeds+=7", "static_bench.benchmarks+=[toy_correct]"])
    assert loaded.recipe.reward_models[-2:] == ["toy-judge-ab", "mine"] and len(loaded.recipe.reward_models) == 10
    assert loaded.recipe.rl.seeds == [0, 7]  # added to the default, which the recipe does not set
    assert [b.name for b in loaded.recipe.static_bench.benchmarks][-1] == "toy_correct"
    keys = {n.key for n in expand(load_recipe(QUICK))}
    # every node the quickstart had is still planned with its key: only the new RM's nodes (and compare's) are new
    added = {n.key for n in expand(loaded)} - keys
    assert added and keys - {n.key for n in expand(load_recipe(QUICK, ["reward_models+=[mine]"]))} == {
        n.key for n in expand(load_recipe(QUICK)) if n.stage in ("compare", "report")}


@pytest.mark.parametrize("override, error", [
    ("reward_modls+=[x]", "unknown key 'reward_modls' (did you mean 'reward_models'?)"),
    ("rl.steps+=3", "rl.steps is not a list (it is 20); `+=` adds to lists"),
    ("reward_models+=[classifier-raw", "cannot parse the value"),
    ("reward_models+=[classifier-raw]", "reward_models names 'classifier-raw' twice"),
])
def test_bad_append_overrides_say_what_is_wrong(override, error):
    with pytest.raises(ConfigError, match=re.escape(error)):
        load_recipe(QUICK, [override])


def test_cards_dir_may_be_a_reward_models_folder_or_several(tmp_path, monkeypatch):
    own = tmp_path / "own" / "reward_models"
    own.mkdir(parents=True)
    (own / "mine.yaml").write_text("kind: classifier\npath: /\n")
    other = tmp_path / "other"
    (other / "reward_models").mkdir(parents=True)
    (other / "reward_models" / "theirs.yaml").write_text("kind: classifier\npath: /\n")
    monkeypatch.setenv("RLHF_EVAL_CARDS", f"{tmp_path / 'nowhere'}:{own}:{other}")
    assert set(load_recipe(QUICK, ["reward_models=[mine,theirs]"]).reward_models) == {"mine", "theirs"}


def test_a_card_not_found_names_the_folders_searched_and_the_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("RLHF_EVAL_CARDS", str(tmp_path))
    with pytest.raises(ConfigError) as e:
        load_recipe(QUICK, ["reward_models+=[my-rm]"])
    text = str(e.value)
    assert "no card 'my-rm' in reward_models/" in text and f"Searched, in order: {ROOT / 'reward_models'}" in text
    assert f"$RLHF_EVAL_CARDS names (now {str(tmp_path)!r}" in text


def test_a_given_checkpoint_keeps_its_inputs_unless_the_recipe_is_static_only():
    """Planning only what is needed must not move the keys of runs that exist: in a recipe with
    best-of-n or RL (which curate anyway), a checkpoint given by path keeps the curated data among
    its inputs, as before; a static-only recipe plans no curation for it."""
    gpu = ROOT / "recipes" / "gpu-cluster.yaml"
    full = {n.label: n for n in expand(load_recipe(gpu))}
    assert full["rm=skywork-llama-8b"].deps.get("data", "").startswith("curate/")
    static = expand(load_recipe(gpu, ["policies=[]", "bon.enabled=false", "rl.enabled=false"]))
    assert not {"bon_generate", "rl_train", "policy_eval"} & {n.stage for n in static}
    assert "data" not in next(n for n in static if n.label == "rm=skywork-llama-8b").deps
