"""`rlhf-eval power`: what a study of this design can detect, from a finished run's measured noise
or from a stated reliability for a recipe that has not run.

A finished run's compare stage records, per headline cell (a benchmark's score against a
downstream gain), both reliabilities, the mean measurement variance and what its units are
(benchmark items, evaluation prompts, RL seeds). More prompts or seeds shrink the downstream
noise in proportion (variance of a mean), which raises the reliability; the benchmark's items
are fixed. The projected design then goes through the simulation in `power.py`.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from rlhf_eval.compare.family import ALPHA
from rlhf_eval.compare.power import (
    POWER_TARGET,
    Design,
    closed_form_power,
    closed_form_rms_needed,
    detectable_rho,
    rms_needed,
)
from rlhf_eval.errors import UserError


@dataclass(frozen=True)
class Cell:
    static: str
    downstream: str
    n_rms: int
    reliability_static: float
    reliability_downstream: float
    note: str = ""


def projected_reliability(reliability: float, noise: float, scale: float) -> float:
    """The reliability once the measurement variance is multiplied by `scale`: the true variance
    across RMs, reliability * observed variance, stays; only the noise changes."""
    if math.isnan(reliability) or reliability >= 1.0 or scale == 1.0:
        return reliability
    if reliability <= 0:
        return reliability  # the RMs' true spread is not resolved; more units cannot be projected
    observed = noise / (1.0 - reliability)
    true = reliability * observed
    return true / (true + noise * scale)


def cells_from_run(run_dir: Path, prompts: int | None = None, seeds: int | None = None) -> list[Cell]:
    path = Path(run_dir) / "results.json"
    if not path.is_file():
        raise UserError(f"{run_dir}: no results.json; finish the run first (`rlhf-eval run`)")
    results = json.loads(path.read_text())
    out = []
    for c in results["correlations"]:
        if "reliability" not in c:
            raise UserError(f"{path}: made by an older compare stage without reliabilities; rerun the recipe")
        rel, noise, units = c["reliability"], c["noise"], c["units"]["downstream"]
        target = {"prompts": prompts, "seeds": seeds}.get(units["unit"])
        scale = units["n"] / target if target else 1.0
        note = f"{units['unit']}: {units['n']} -> {target}" if target else ""
        if units["unit"] == "prompts" and seeds and c["downstream"].startswith("RL gain"):
            note = "one RL seed was run, so the seed-to-seed variance is unknown: --seeds is not projected"
        out.append(Cell(c["static"], c["downstream"], c["n_rms"], rel["static"],
                        projected_reliability(rel["downstream"], noise["downstream"], scale), note))
    return out


def analyse(cell: Cell, n_rms: int, rho: float, reps: int, draws: int, seed: int, cells: int = 1) -> dict:
    """Detectable rho at 80% power with `n_rms` RMs, and the RMs needed for `rho`: simulated
    (the verdict's own statistics) and by the Fisher-z closed form; `cells` > 1 sizes the cell
    as the strongest of a family of that many (Holm's first level, 0.05 / cells)."""
    alpha = ALPHA / cells
    rs, rd = cell.reliability_static, cell.reliability_downstream
    row = {"static": cell.static, "downstream": cell.downstream, "rms": n_rms, "reliability_static": rs,
           "reliability_downstream": rd, "note": cell.note}
    if math.isnan(rs) or math.isnan(rd) or rs <= 0 or rd <= 0:
        return row | {"detectable_rho": None, "rms_needed": None, "closed_form_rms_needed": None,
                      "note": cell.note or "a reliability is not positive or unknown: nothing is detectable"}
    design = Design(n_rms, min(rs, 1.0), min(rd, 1.0))
    return row | {"detectable_rho": detectable_rho(design, POWER_TARGET, reps, draws, seed, alpha=alpha),
                  "power_at_rho": closed_form_power(design, rho, alpha=alpha),
                  "rms_needed": rms_needed(design, rho, POWER_TARGET, reps, draws, seed, alpha=alpha),
                  "closed_form_rms_needed": closed_form_rms_needed(rho, design.reliability_static,
                                                                   design.reliability_downstream, alpha=alpha),
                  "cells": cells}
