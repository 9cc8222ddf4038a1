"""slurm.ray_head_address, checked where the recipe loads and read where the Ray-on-Slurm script
is rendered (a leaf: the config checks it without importing the Slurm renderer)."""
from __future__ import annotations

import re

from rlhf_eval.errors import UserError

IPV4 = re.compile(r"(\d{1,3}\.){3}\d{1,3}")
INTERFACE = re.compile(r"[A-Za-z0-9_.:-]{1,15}")  # Linux interface names: at most 15 characters


def head_address(value: str | None) -> dict:
    """slurm.ray_head_address as the Ray template takes it: {"ip", "interface"}, at most one set."""
    if value is None:
        return {"ip": None, "interface": None}
    if IPV4.fullmatch(value):
        return {"ip": value, "interface": None}
    if INTERFACE.fullmatch(value):
        return {"ip": None, "interface": value}
    raise UserError(f"slurm.ray_head_address={value!r} is neither an IPv4 address nor a network interface name")
