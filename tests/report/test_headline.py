"""The report's one line: verdicts grouped per static measure, and the best vs worst predictor of
the RL gain with the paired interval compare computed."""
from rlhf_eval.report.headline import one_line

SUFFIX = " (toy_sort, toy-policy)"


def cell(static, down, cls):
    return {"static": static, "downstream": down + SUFFIX, "class": cls}


def test_one_line_groups_verdicts_and_states_the_rl_pair():
    cells = [cell("off score", "best-of-16 gain", "no reliable relation"), cell("off score", "RL gain", "reversed"),
             cell("on score", "best-of-16 gain", "predicts"), cell("on score", "RL gain", "predicts"),
             cell("on-policy accuracy" + SUFFIX, "RL gain", "predicts"), cell("tiny", "RL gain", "too few RMs")]
    ranking = [{"downstream": "best-of-16 gain" + SUFFIX, "ranked": [{"static": "on score"}, {"static": "off score"}],
                "pairs": [{"a": "on score", "b": "off score", "difference": 0.9, "ci": [0.2, 1.4], "n_rms": 18,
                           "better": "on score"}]},
               {"downstream": "RL gain" + SUFFIX,
                "ranked": [{"static": "on-policy accuracy" + SUFFIX}, {"static": "on score"}, {"static": "off score"}],
                "pairs": [{"a": "on-policy accuracy" + SUFFIX, "b": "off score", "difference": 1.234,
                           "ci": [0.456, 1.9], "n_rms": 18, "better": "on-policy accuracy" + SUFFIX}]}]
    assert one_line(cells, ranking) == (
        "In one line (on toy_sort, toy-policy): off score is reversed on RL gain, not best-of-16 gain (no reliable "
        "relation); on score predicts best-of-16 gain and RL gain; on-policy accuracy predicts RL gain. On the RL "
        "gain, Spearman of on-policy accuracy minus off score: +1.23 [+0.46, +1.90] (95%, paired bootstrap over 18 "
        "RMs; it predicts better).")
    # Without an RL gain the last measure's pair is stated; an interval that spans 0 is "not separated".
    ranking[0]["pairs"][0] |= {"ci": [-0.1, 1.4], "better": None}
    assert one_line(cells[:4], ranking[:1]).endswith(
        "On the best-of-16 gain, Spearman of on score minus off score: +0.90 [-0.10, +1.40] (95%, paired bootstrap "
        "over 18 RMs; not separated).")
    assert one_line([cell("tiny", "RL gain", "too few RMs")], []) == ""
