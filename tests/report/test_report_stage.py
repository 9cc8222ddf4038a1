"""report's run() on the tiny toy world: the same results.json again, and a report naming every RM."""
import json


def test_report_run_writes_the_same_results(rerun):
    new, before = rerun("report")
    results, old = (json.loads(open(m["outputs"]["results"]).read()) for m in (new, before))
    assert results == old
    html = open(new["outputs"]["report"]).read()
    assert all(rm in html for rm in ("classifier-curated", "dpo-curated"))
