"""docs/config.md is generated from the config classes; it must match them, and every field must
say what it is."""
from dataclasses import fields, is_dataclass

from rlhf_eval import config
from rlhf_eval.config_docs import DOC, markdown


def test_docs_config_md_matches_the_fields():
    assert DOC.read_text() == markdown(), "docs/config.md is stale: run `make docs`"


def test_every_config_field_has_help():
    missing = [f"{cls.__name__}.{f.name}" for cls in vars(config).values()
               if is_dataclass(cls) and isinstance(cls, type) and cls is not config.LoadedRecipe
               for f in fields(cls) if not f.metadata.get("help")]
    assert missing == []
