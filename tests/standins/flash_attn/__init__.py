"""STAND-IN for flash_attn, for CPU tests only: OpenRLHF imports flash_attn names at module load
(openrlhf/models/ring_attn_utils.py). Nothing here computes; calling any name raises. The tests
that put this folder on PYTHONPATH never use packed samples or ring attention."""
