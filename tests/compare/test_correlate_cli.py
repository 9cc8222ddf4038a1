"""`rlhf-eval correlate`: a published table of per-RM numbers through the real CLI, its JSON equal
to `verdict_table` on the same numbers, and one-line errors naming file, row and column."""
import csv
import json

import pytest

from conftest import run_cli
from rlhf_eval.compare import verdict_table

ROWS = [  # rm, two static metrics (one with SEs), two downstream measures
    ("rm-a", 0.71, 0.01, 0.64, 0.30, 1.2), ("rm-b", 0.62, 0.02, 0.60, 0.25, 1.0), ("rm-c", 0.55, 0.02, 0.52, 0.21, 0.7),
    ("rm-d", 0.66, 0.01, 0.58, 0.27, 0.9), ("rm-e", 0.41, 0.03, 0.47, 0.12, 0.2), ("rm-f", 0.50, 0.02, 0.55, 0.18, 0.8),
    ("rm-g", 0.58, 0.02, 0.49, 0.24, 0.4),
]
HEADER = ["model", "rb2", "rb2_se", "rmb", "bon", "ppo"]


def _write(path, rows, header=HEADER):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def test_correlate_reads_a_table_and_gives_the_family(toy_cache, tmp_path):
    table = _write(tmp_path / "paper.csv", ROWS)
    out = tmp_path / "cells.json"
    proc = run_cli(toy_cache, "correlate", table, "--rm", "model", "--static", "rb2,rmb", "--downstream", "bon,ppo",
                   "--se", "_se", "--json", out, "--draws", "300")
    got = json.loads(out.read_text())
    want = verdict_table({"rb2": {r[0]: (r[1], r[2]) for r in ROWS}, "rmb": {r[0]: r[3] for r in ROWS}},
                         {"bon": {r[0]: r[4] for r in ROWS}, "ppo": {r[0]: r[5] for r in ROWS}}, draws=300)
    assert got["family_size"] == 4 and [c["verdict"] for c in got["cells"]] == [c["verdict"] for c in want["cells"]]
    for g, w in zip(got["cells"], want["cells"]):
        assert (g["static"], g["downstream"]) == (w["static"], w["downstream"])
        assert g["p"] == pytest.approx(w["p"]) and g["p_adjusted"] == pytest.approx(w["p_adjusted"])
        assert g["exact"] and g["rests_on"] == w["rests_on"]
    # rb2 came with SEs but bon without: reliability of rb2 known, of bon unknown (None, never 1.0).
    assert got["cells"][0]["reliability"]["static"] is not None and got["cells"][0]["reliability"]["downstream"] is None
    assert got["cells"][2]["reliability"] == {"static": None, "downstream": None}
    text = " ".join(proc.stdout.split())
    assert "one family of 4 tests" in text and "Global test" in text and "With 7 RMs" in text
    assert all(c["verdict"] in text for c in got["cells"])


@pytest.mark.parametrize("rows,header,args,message", [
    (ROWS, HEADER, ("--static", "rb3", "--downstream", "bon"), "paper.csv: no column 'rb3'"),
    ([*ROWS[:3], ("rm-d", "n/a", 0.01, 0.5, 0.2, 0.9), *ROWS[4:]], HEADER, ("--static", "rb2", "--downstream", "bon"),
     "paper.csv: row 4 (line 5), column 'rb2': 'n/a' is not a number"),
    ([*ROWS, ("rm-b", 0.6, 0.01, 0.5, 0.2, 0.9)], HEADER, ("--static", "rb2", "--downstream", "bon"),
     "paper.csv: row 8 (line 9), column 'model': RM 'rm-b' appears again (first in row 2 (line 3))"),
    (ROWS[:4], HEADER, ("--static", "rb2", "--downstream", "bon"), "paper.csv: 4 RMs; a verdict needs at least 5"),
    (ROWS, HEADER, ("--static", "rb2", "--downstream", "rb2"), "column 'rb2' is named both --static and --downstream"),
])
def test_correlate_rejects_bad_tables_in_one_line(toy_cache, tmp_path, rows, header, args, message):
    table = _write(tmp_path / "paper.csv", rows, header)
    proc = run_cli(toy_cache, "correlate", table, "--rm", "model", *args, check=False)
    assert proc.returncode == 2, proc.stderr
    first = proc.stderr.strip().splitlines()[0]
    assert first.startswith("error: ") and message in first, proc.stderr


def test_correlate_reads_json_rows(toy_cache, tmp_path):
    table = tmp_path / "paper.json"
    table.write_text(json.dumps([dict(zip(HEADER, r)) for r in ROWS[:5]] + [{"model": "rm-x", "rb2": True}]))
    proc = run_cli(toy_cache, "correlate", table, "--rm", "model", "--static", "rb2", "--downstream", "bon",
                   check=False)
    assert proc.returncode == 2 and "paper.json: row 6, column 'rb2': True is not a number" in proc.stderr
