"""The report stage's wiring: one node that renders compare's answer and the curation funnel."""
from __future__ import annotations

from rlhf_eval.stages import Stage, no_gpu

NAME = "report"
# The report's input role for the curated data. It is part of every report's node key, so it
# keeps the name it had when the report named its stages (tests/test_layout.py lists it).
CURATED_ROLE = "curate"
RUN_COPY = "run-report.html"  # the report as the run folder holds it (its CSV links reach into the node's folder)


def expand(plan) -> None:
    from rlhf_eval.pipeline import plain

    r = plan.recipe
    compare = plan.need("comparison")  # plans every stage compare reads, and so the curation they use
    plan.add(NAME, "report", {"name": r.name, "report": plain(r.report)},
             {"compare": compare, CURATED_ROLE: plan.made("curated")})


STAGE = Stage(NAME, "rlhf_eval.report.stage:run", expand=expand, section=NAME, cost=no_gpu)
