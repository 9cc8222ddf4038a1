"""STAND-IN (see flash_attn/__init__.py): names only."""
from flash_attn.bert_padding import _absent as all_gather  # noqa: F401
