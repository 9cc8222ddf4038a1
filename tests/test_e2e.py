"""End to end through the real transformers, TRL and lm-eval on the toy world (smoke scale)."""
import json
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, SMOKE, cli, cli_env, run_cli
from rlhf_eval.pipeline import node_manifests

pytestmark = [pytest.mark.slow, pytest.mark.ci]


def numbers(run_dir: Path) -> dict:
    res = json.loads((run_dir / "results.json").read_text())
    return {k: res[k] for k in ("rm_table", "static", "downstream", "correlations")}


def test_run_writes_every_stage_and_report(reference_run):
    run_dir, proc = reference_run
    assert "report:" in proc.stdout and "reward models (smoke)" in proc.stdout
    # the terminal summary: short column names with their legend, verdicts as a table, stage times
    assert "B1 = toy_rewardbench score" in proc.stdout
    assert "bo2, bo4 = best-of-n gain (toy_sort, toy-policy)" in proc.stdout
    assert "does the static ranking predict" in proc.stdout and "node time per stage" in proc.stdout
    assert "toy_rew…" not in proc.stdout and "It predicts" not in proc.stdout
    assert "p adj" in proc.stdout and "too few RMs" in proc.stdout  # 2 RMs: no verdict, no family
    plan = json.loads((run_dir / "plan.json").read_text())
    for node in plan["nodes"]:
        manifest = json.loads((run_dir / node["stage"] / node["key"] / "manifest.json").read_text())
        assert manifest["key"] == node["key"]
    html = (run_dir / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 2 and "http://" not in html and "https://" not in html
    res = json.loads((run_dir / "results.json").read_text())
    assert {r["rm"] for r in res["rm_table"]} == {"classifier-curated", "dpo-curated"}
    bon = [r for r in res["downstream"] if r["method"] == "best-of-n"]
    assert sorted({r["n"] for r in bon}) == [1, 2, 4]
    for r in bon:
        assert 0.0 <= r["value"] <= r["oracle"] + 1e-9 and r["ci_low"] <= r["value"] <= r["ci_high"]
    curate = next(n for n in plan["nodes"] if n["stage"] == "curate")
    funnel = json.loads((run_dir / "curate" / curate["key"] / "funnel.json").read_text())
    reasons = {(d["step"], d["source"]) for d in funnel["dropped"]}
    assert ("dedup", "mirror") in reasons and ("decontaminate", "leaked") in reasons
    assert ("consistency", "noisy") in reasons  # the judge drops flipped labels
    assert {r["source"] for r in funnel["dropped"] if r["step"] == "decontaminate"} == {"leaked"}
    assert (run_dir / "curate" / curate["key"] / "dataset" / "dataset_info.json").is_file()
    # on-policy signals: per RM, in results, in the heatmap against every gain, and in the verdict
    # table only against the RL gain (best-of-n gains read the same candidates)
    assert {r["rm"] for r in res["on_policy"]} == {"classifier-curated", "dpo-curated"}
    assert all(0 <= r["accuracy"] <= 1 and r["spread"] > 0 and r["tie"] == 0 for r in res["on_policy"])
    on = [m["downstream"] for m in res["matrix"] if m["static"].startswith("on-policy accuracy")]
    assert any(d.startswith("best-of-") for d in on) and any(d.startswith("RL gain") for d in on)
    assert {c["downstream"] for c in res["correlations"] if c["static"].startswith("on-policy")} == \
        {"RL gain (toy_sort, toy-policy)"}


def test_static_benchmarks_in_results_and_report(reference_run):
    run_dir, _ = reference_run
    res = json.loads((run_dir / "results.json").read_text())
    rows = {(r["rm"], r["benchmark"], r["metric"]): r for r in res["static"]}
    for rm in ("classifier-curated", "dpo-curated"):
        for bench in ("toy_rewardbench", "toy_rewardbench2", "toy_rmbench"):
            score = rows[(rm, bench, "score")]
            assert score["ci_low"] <= score["value"] <= score["ci_high"]
            for metric in ("domain_worst", "length_baseline", "ppe/accuracy", "ppe/auc", "ppe/brier",
                           "probe_drop/strip_marker"):
                assert rows[(rm, bench, metric)]["ci_low"] is not None, (rm, bench, metric)
    # Only toy_rewardbench's marker-trap rejected answers and toy_rmbench's third style carry the
    # marker; RewardBench 2 has none, so its strip_marker probe changes nothing and drops nothing.
    assert rows[("dpo-curated", "toy_rewardbench2", "probe_drop/strip_marker")]["value"] == 0.0
    html = (run_dir / "report.html").read_text()
    assert "Static benchmarks" in html and "drop: strip_marker" in html and "length-only baseline" in html
    assert res["seven"] == [] and 'id="seven"' not in html  # the smoke run has three benchmarks, not seven


def test_seven_benchmark_table_renders(reference_run, tmp_path):
    from rlhf_eval.bench.summary import SEVEN
    from rlhf_eval.report.stage import render

    run_dir, _ = reference_run
    [cmp] = node_manifests(run_dir, "compare")
    row = {"rm": "dpo-curated"} | {name: 0.5 + 0.05 * i for i, name in enumerate(SEVEN)} | {
        "average": 0.65, "worst": 0.5, "worst_benchmark": SEVEN[0]}
    written = render(cmp["outputs"] | {"seven": [row]}, {}, "seven", tmp_path, [], ["leaderboard"])
    html = Path(written["report"]).read_text()
    assert 'id="seven"' in html and "<th>PPE Correctness</th>" in html and "0.500 (RewardBench)" in html
    assert "seven.csv" in written["csv"] and (tmp_path / "seven.csv").read_text().startswith("rm,")


SHARED = ROOT.parent / "shared" / "data"


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is absent")
@pytest.mark.parametrize("bench, file, n", [
    ("judgebench", "judgebench/judgebench_claude-3-5-sonnet-20240620.jsonl", 270),
    ("rm-bench", "rm-bench/chat_filtered.json", 129)])
def test_real_samples_scored_by_a_toy_rm_then_rescored_from_saved_scores(reference_run, toy_cache, tmp_path,
                                                                         bench, file, n):
    from rlhf_eval.bench.evaluate import evaluate
    from rlhf_eval.bench.loading import load_items
    from rlhf_eval.bench.saved import write_scores
    from rlhf_eval.bench.stage import score_items
    from rlhf_eval.rm.base import encode, load_scorer

    run_dir, _ = reference_run
    [manifest] = node_manifests(run_dir, "train_rm", "rm=classifier-curated rm_seed=0")
    benchmark, items, _ = load_items(bench, data=str(SHARED / file))
    assert len(items) == n
    scorer = load_scorer(manifest)
    scores = score_items(scorer, items)
    # Truncation is counted: every input longer than max_length, counted independently here.
    prompts = [it.prompt for it in items for _ in it.candidates]
    texts = [c for it in items for c in it.candidates]
    full = encode(scorer.tok, prompts, texts, 10**9, response_mask=False)
    assert scorer.truncated == sum(len(x) > scorer.max_length for x in full.ids) > 0
    direct = evaluate(benchmark, items, scores, iters=0)["metrics"]
    if bench == "judgebench":
        labels = [it.meta["label"] for it in items]
        # the official RM judgment: A>B if s_A > s_B else B>A
        by_hand = np.mean([(s[0] > s[1]) == (label == "A>B") for s, label in zip(scores, labels)])
        assert direct["score"] == pytest.approx(by_hand)
    else:
        c, r = np.array([s[:3] for s in scores]), np.array([s[3:] for s in scores])
        assert direct["normal"] == pytest.approx(np.mean([(c[:, k] > r[:, k]).mean() for k in range(3)]))
    write_scores(tmp_path / "scores.jsonl", items, scores)
    proc = run_cli(toy_cache, "bench", "score", bench, "--data", SHARED / file, "--scores",
                   tmp_path / "scores.jsonl", "--bootstrap", "100", "--out", tmp_path / "out")
    saved = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert saved["metrics"] == pytest.approx(direct) and saved["n_items"] == n
    assert json.loads(proc.stdout)["metrics"] == pytest.approx(direct)


def test_rl_command_prints_one_shell_line(reference_run, toy_cache):
    import shlex
    run_dir, _ = reference_run
    proc = run_cli(toy_cache, "rl-command", SMOKE, "--rm", "classifier-curated", "--policy", "toy-policy",
                   f"run_root={run_dir.parent}", "rl.engine=openrlhf")
    line = proc.stdout.strip()
    assert "\n" not in line
    argv = shlex.split(line)
    assert argv[:3] == ["python3", "-m", "openrlhf.cli.train_ppo_ray"]
    rm_path = argv[argv.index("--reward.model_name_or_path") + 1]
    assert Path(rm_path).is_absolute() and (Path(rm_path) / "config.json").is_file()
    assert argv[argv.index("--algo.advantage.estimator") + 1] == "group_norm"
    proc = run_cli(toy_cache, "rl-command", SMOKE, "--rm", "dpo-curated", "--policy", "toy-policy",
                   f"run_root={run_dir.parent}", "rl.engine=openrlhf", check=False)
    assert proc.returncode == 2 and "serve it with `rlhf-eval serve-rm`" in proc.stderr


def test_lm_eval_pick_matches_exact_estimate_at_n_max(reference_run):
    run_dir, _ = reference_run
    for manifest in (run_dir / "bon_eval").glob("*/manifest.json"):
        out = json.loads(manifest.read_text())["outputs"]
        direct = out["lm_eval_pick_at_n_max"]["exact_match,extract"]
        exact = out["curve"][-1]["value"]
        # equal unless top scores tie (the exact estimate splits ties, the pick takes the first)
        assert direct == pytest.approx(exact, abs=1.5 / out["n_prompts"])


@pytest.mark.parametrize("columns", [80, 100])
def test_a_terminal_gets_lines_that_fit_and_break_between_words(reference_run, toy_cache, columns):
    """On a terminal (FORCE_COLOR makes rich treat the pipe as one) of 80 or 100 columns, every line
    of a finished run's summary fits, and lines break between words: every word it shows is a word
    of the same summary printed to a pipe (one line per message)."""
    import re

    def summary(extra: dict) -> list[str]:
        proc = subprocess.run(cli("run", SMOKE, f"run_root={run_dir.parent}"), cwd=ROOT, env=cli_env(toy_cache) | extra,
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr
        assert "0/0" not in proc.stdout and "nodes: all cached" in proc.stdout
        return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", proc.stdout).splitlines()

    def words(lines: list[str]) -> set[str]:  # outside tables, whose cells fold on their own
        return {w for line in lines if not line.lstrip().startswith(tuple("│┃┏┡└━─┗"))
                for w in line.replace("(", " ").split() if not re.fullmatch(r"[\d.]+s?", w)}

    run_dir, _ = reference_run
    narrow = summary({"FORCE_COLOR": "1", "COLUMNS": str(columns)})
    wide = summary({"COLUMNS": "1000"})
    assert len(narrow) > len(wide) > 20 and max(map(len, narrow)) <= columns
    assert words(narrow) - words(wide) == set()


def test_second_run_is_cached_and_status_shows_done(reference_run, toy_cache):
    run_dir, _ = reference_run
    before = numbers(run_dir)
    t = time.time()
    proc = run_cli(toy_cache, "run", SMOKE, f"run_root={run_dir.parent}")
    assert time.time() - t < 60
    # 2 RMs x 2 RL seeds; a bon_signal node per RM; classifier-curated's second training seed
    # adds a train_rm, 3 static_bench and one bon_score, bon_eval and bon_signal node
    assert "36 nodes: all cached" in proc.stdout and "0/0" not in proc.stdout
    assert numbers(run_dir) == before
    for cmd in (("status", run_dir), ("plan", SMOKE, f"run_root={run_dir.parent}")):
        shown = run_cli(toy_cache, *cmd).stdout
        assert "done" in shown and "todo" not in shown and "partial" not in shown


def _kill_inside(cache, root: Path, stage: str) -> None:
    """Start a run and SIGKILL it while a node of `stage` is running (folder made, no manifest)."""
    proc = subprocess.Popen(cli("run", SMOKE, f"run_root={root}"), cwd=ROOT, env=cli_env(cache),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 600
    stage_dir = root / "smoke" / stage
    while time.time() < deadline and proc.poll() is None:
        running = [d for d in stage_dir.glob("*") if d.is_dir() and not (d / "manifest.json").exists()]
        if running:
            time.sleep(0.3)
            if not (running[0] / "manifest.json").exists():
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                assert not (running[0] / "manifest.json").exists()
                return
        time.sleep(0.02)
    proc.kill()
    raise AssertionError(f"never caught the run inside {stage}")


def test_sigkill_inside_train_rm_and_bon_generate_then_rerun(reference_run, toy_cache, tmp_path):
    ref_dir, _ = reference_run
    _kill_inside(toy_cache, tmp_path, "train_rm")
    _kill_inside(toy_cache, tmp_path, "bon_generate")
    status = run_cli(toy_cache, "status", tmp_path / "smoke").stdout
    assert "partial" in status
    run_cli(toy_cache, "run", SMOKE, f"run_root={tmp_path}")
    assert numbers(tmp_path / "smoke") == numbers(ref_dir)


def test_rl_resumes_from_its_last_checkpoint_after_a_kill(toy_cache, tmp_path):
    args = ("run", SMOKE, f"run_root={tmp_path}", "rl.steps=4", "rl.save_every=2", "reward_models=[dpo-curated]",
            "rl.seeds=[0]")
    proc = subprocess.Popen(cli(*args), cwd=ROOT, env=cli_env(toy_cache), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None:
        if list((tmp_path / "smoke" / "rl_train").glob("*.keep/trainer/checkpoint-2/trainer_state.json")):
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before the first RL checkpoint"
    run_cli(toy_cache, *args)
    [rl] = node_manifests(tmp_path / "smoke", "rl_train")
    out = rl["outputs"]
    assert out["resumed_from"] == 2
    assert [c["step"] for c in out["checkpoints"]] == [2, 4]
    gains = json.loads((tmp_path / "smoke" / "results.json").read_text())["rl_gains"]
    assert [(g["rm"], g["step"], g["final"]) for g in gains] == [("dpo-curated", 2, False), ("dpo-curated", 4, True)]
    for g in gains:
        assert g["ci_low"] <= g["gain"] <= g["ci_high"] and g["gain"] == pytest.approx(g["after"] - g["before"])


def test_node_entry_point_runs_one_node(reference_run, toy_cache):
    run_dir, _ = reference_run
    plan = json.loads((run_dir / "plan.json").read_text())
    node = next(n for n in plan["nodes"] if n["stage"] == "compare")
    manifest = run_dir / "compare" / node["key"] / "manifest.json"
    before = json.loads(manifest.read_text())["outputs"]["rm_table"]
    manifest.unlink()
    # The node takes the recipe's torch_threads (1) from plan.json, not the environment's count, as
    # a Slurm job or a Ray task would hand it: the threads set the order of float sums.
    proc = subprocess.run(cli("node", run_dir, node["id"]), cwd=ROOT, env=cli_env(toy_cache) | {"OMP_NUM_THREADS": "3"},
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and f"{node['id']} done" in proc.stdout, proc.stderr
    done = json.loads(manifest.read_text())
    assert done["outputs"]["rm_table"] == before and done["threads"] == 1


def test_cli_errors_are_one_line(toy_cache):
    proc = run_cli(toy_cache, "run", SMOKE, "bon.n_mx=3", check=False)
    assert proc.returncode == 2
    assert "unknown key 'bon.n_mx' (did you mean 'n_max'?)" in proc.stderr
    proc = run_cli(toy_cache, "plan", SMOKE, "reward_models=[nope]", check=False)
    assert proc.returncode == 2 and "no card 'nope' in reward_models/" in proc.stderr


def test_malformed_row_stops_with_one_line_and_keeps_finished_nodes(toy_cache, tmp_path):
    bad = tmp_path / "pairs.jsonl"
    bad.write_text('{"prompt": "p", "chosen": "a", "rejected": "b"}\n'
                   '{"prompt": "p", "chosen": "a b", "rejected": "a b"}\n')
    args = ("run", SMOKE, f"run_root={tmp_path}", f"sources=[{{name: mine, path: {bad}}}]")
    proc = run_cli(toy_cache, *args, check=False)
    assert proc.returncode == 2, proc.stderr
    assert f"{bad}: row 2: field 'chosen': identical to rejected" in proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert list((tmp_path / "smoke" / "toy_world").glob("*/manifest.json"))


def test_rm_seeds_crossed_with_rl_seeds_from_nodes_to_report(reference_run, toy_cache, tmp_path):
    """The smoke recipe trains classifier-curated with 2 seeds (its card) and RL with 2 seeds;
    rl.rm_seeds=all crosses them. Every number of the seeded RM is the mean over its seeds,
    recomputed here from the nodes' own outputs, and the report says what the claims are about."""
    run_cli(toy_cache, "run", SMOKE, f"run_root={tmp_path}", "rl.rm_seeds=all")
    run_dir = tmp_path / "smoke"
    res = json.loads((run_dir / "results.json").read_text())
    assert res["rm_seeds"] == {"classifier-curated": 2, "dpo-curated": 1} and res["claims_about"] == "mixed"
    row = next(r for r in res["rm_table"] if r["rm"] == "classifier-curated")
    assert row["seeds"] == 2
    bench = [m["outputs"] for m in node_manifests(run_dir, "static_bench")
             if m["outputs"]["rm"] == "classifier-curated" and m["outputs"]["benchmark"] == "toy_rmbench"]
    assert sorted(b["rm_seed"] for b in bench) == [0, 1]
    assert row["toy_rmbench score"] == pytest.approx(np.mean([b["metrics"]["score"] for b in bench]))
    evals = [m["outputs"] for m in node_manifests(run_dir, "policy_eval")]
    base = next(e["value"] for e in evals if e["rm"] is None)
    finals = [e for e in evals if e["rm"] == "classifier-curated" and e["final"]]
    assert sorted((e["rm_seed"], e["seed"]) for e in finals) == [(s, r) for s in (0, 1) for r in (0, 1)]
    per_rm_seed = [np.mean([e["value"] - base for e in finals if e["rm_seed"] == s]) for s in (0, 1)]
    assert row["RL gain (toy_sort, toy-policy)"] == pytest.approx(np.mean(per_rm_seed))
    rl = next(g for g in res["rl_seeds"] if g["rm"] == "classifier-curated" and g["final"])
    assert rl["seeds"] == 2 and rl["gain"] == pytest.approx(np.mean(per_rm_seed))  # the RM seeds are the top level
    html = (run_dir / "report.html").read_text()
    assert "The claims mix training recipes and checkpoints" in html and "RL trained on each RM" not in html
    # the session's reference run (rl.rm_seeds: first) says RL used the first seed
    assert "RL trained on each RM's first training seed only" in (reference_run[0] / "report.html").read_text()
