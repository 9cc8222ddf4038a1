"""One Registry class for every extension point: one lookup with one did-you-mean, a shape check
on load, and every registered entry importable and of the shape its table expects."""
import pytest

from rlhf_eval.bench import BENCHMARKS
from rlhf_eval.errors import UserError
from rlhf_eval.gen import SAMPLERS
from rlhf_eval.launch import EXECUTORS
from rlhf_eval.registry import Registry, did_you_mean
from rlhf_eval.rl import ENGINES
from rlhf_eval.rm import SCORERS
from rlhf_eval.stages import STAGES

TABLES = [SAMPLERS, SCORERS, ENGINES, EXECUTORS, BENCHMARKS, STAGES]


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.what)
def test_every_registered_entry_loads_and_has_its_tables_shape(table):
    assert isinstance(table, Registry) and len(table) >= 2
    for name in table:
        assert table.load(name) is not None  # imports it; no GPU engine is imported at module level


def test_an_unknown_name_names_the_closest_and_the_registered_ones():
    said = r"unknown RL engine 'trll' \(did you mean 'trl'\?\); registered: trl, openrlhf"
    with pytest.raises(UserError, match=said):
        ENGINES.load("trll")
    with pytest.raises(UserError, match=r"^unknown executor 'slurm'; registered: local, ray$"):
        EXECUTORS.load("slurm")


def test_an_entry_of_the_wrong_shape_is_refused_naming_the_table(monkeypatch):
    monkeypatch.setitem(BENCHMARKS, "toys", "rlhf_eval.bench:TOY")
    said = r"benchmark 'toys' \(rlhf_eval.bench:TOY\) is not a bench.base.Benchmark \(a dict\)"
    with pytest.raises(UserError, match=said):
        BENCHMARKS.load("toys")
    monkeypatch.setitem(STAGES, "constant", "rlhf_eval.toy.wiring:TOY_WORLD_FORMAT")
    with pytest.raises(UserError, match=r"stage 'constant' .* is not a stages.Stage \(a int\)"):
        STAGES.load("constant")


def test_one_hint_for_every_lookup():
    assert did_you_mean("n_mx", ["n_max", "block"]) == " (did you mean 'n_max'?)"
    assert did_you_mean("zzz", ["b", "a"]) == ""
    assert did_you_mean("zzz", ["b", "a"], valid=True) == " (valid: a, b)"
    assert SAMPLERS.listing() == "transformers or vllm"


def test_every_help_text_of_a_choice_names_every_value_it_allows():
    """The help of a key that names a choice (docs/config.md is made from it) lists what the
    registries and fixed choices allow, so a newly registered engine or backend cannot be left out
    of the docs silently."""
    from dataclasses import fields

    from rlhf_eval import config
    where = {"executor": (config.Recipe, "executor"), "rl.engine": (config.RLConfig, "engine"),
             "rl.algorithm": (config.RLConfig, "algorithm"), "kind": (config.RMCard, "kind"),
             "train.dataset": (config.RMTrainConfig, "dataset"),
             "train.lr_scheduler": (config.RMTrainConfig, "lr_scheduler"), "judge.mode": (config.JudgeConfig, "mode"),
             "curate.on_bad_row": (config.CurateConfig, "on_bad_row"), "curate.engine": (config.CurateConfig, "engine"),
             "curate.retrieve.embedder": (config.RetrieveConfig, "embedder")}
    allowed = config.choices()
    assert set(where) | {"backend"} == set(allowed)

    def help_of(cls, name):
        return next(f.metadata["help"] for f in fields(cls) if f.name == name)

    missing = {key: [v for v in allowed[key] if v not in help_of(*where[key])] for key in where}
    missing["RMCard.backend"] = [v for v in SCORERS if v not in help_of(config.RMCard, "backend")]
    missing["PolicyCard.backend"] = [v for v in SAMPLERS if v not in help_of(config.PolicyCard, "backend")]
    assert {k: v for k, v in missing.items() if v} == {}
