"""One Registry class for every extension point: one lookup with one did-you-mean, a shape check
on load, and every registered entry importable and of the shape its table expects."""
import pytest

from conftest import ROOT
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


def test_choices_and_their_docs_are_read_from_the_registries(monkeypatch):
    """A key that names a choice is checked against, and documented with, what its registry holds
    when asked (opt's `choices`): a newly registered engine, backend or executor is valid and
    listed in docs/config.md with no list to edit; a value outside them is refused naming them."""
    from rlhf_eval.config import ConfigError, load_recipe
    from rlhf_eval.config_docs import markdown

    doc = markdown()
    assert "One of: `trl` or `openrlhf`." in doc and "One of: `local` or `ray`." in doc
    monkeypatch.setitem(ENGINES, "constant", "extension_examples:constant_engine")
    monkeypatch.setitem(EXECUTORS, "dry", "extension_examples:record_nodes")
    monkeypatch.setitem(SCORERS, "length", "extension_examples:load_length_scorer")
    doc = markdown()
    assert "One of: `trl`, `openrlhf` or `constant`." in doc and "One of: `local`, `ray` or `dry`." in doc
    assert "`remote`, `openai` or `length`." in doc
    assert load_recipe(ROOT / "recipes" / "quickstart.yaml", ["executor=dry"]).recipe.executor == "dry"
    with pytest.raises(ConfigError, match=r"curate.steps='dedupe' is not one of dedup, .* \(did you mean 'dedup'\?\)"):
        load_recipe(ROOT / "recipes" / "quickstart.yaml", ["curate.steps=[dedupe]"])
    with pytest.raises(ConfigError, match=r"static_bench.probes\[0\].name='strip' is not one of strip_marker"):
        load_recipe(ROOT / "recipes" / "quickstart.yaml", ["static_bench.probes=[{name: strip}]"])
