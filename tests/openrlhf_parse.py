"""Driver for the seam tests: run OpenRLHF 0.11.2's own `train_ppo_ray` argument parsing and
checks (the `__main__` block of its cli/train_ppo_ray.py, executed as released) with our command
line, stop where it would start training, then load the prompt file the way its PPO trainer does
(`blending_datasets`, then `PromptDataset`). Prints what OpenRLHF ended up with as one JSON line.

Its module-level imports (Ray placement groups, vLLM engines) are not executed: only the parser
block is. Run with tests/openrlhf_side.py's environment (OpenRLHF's wheel and the flash_attn
stand-in on PYTHONPATH)."""
import argparse
import ast
import datetime
import hashlib
import json
import os
import sys
from types import SimpleNamespace

import openrlhf
from openrlhf.datasets import PromptDataset
from openrlhf.datasets.utils import blending_datasets
from transformers import AutoTokenizer

source_path = os.path.join(os.path.dirname(openrlhf.__file__), "cli", "train_ppo_ray.py")
tree = ast.parse(open(source_path).read())
main = next(n for n in tree.body if isinstance(n, ast.If) and "__main__" in ast.unparse(n.test))
captured = {}
namespace = {"argparse": argparse, "os": os, "datetime": datetime.datetime, "__name__": "openrlhf_main",
             "train": lambda args: captured.setdefault("args", args)}
sys.argv = ["train_ppo_ray"] + sys.argv[1:]
exec(compile(ast.Module(body=main.body, type_ignores=[]), source_path, "exec"), namespace)
args = captured["args"]

# As openrlhf/trainer/ppo_trainer.py prepares its prompts.
strategy = SimpleNamespace(args=args, print=lambda *a: None, is_rank_0=lambda: True)
data = blending_datasets(args.data.prompt_dataset, args.data.prompt_probs, strategy, args.train.seed,
                         max_count=args.data.max_samples, dataset_split=args.data.prompt_split)
data = data.select(range(min(args.data.max_samples, len(data))))
tok = AutoTokenizer.from_pretrained(args.actor.model_name_or_path)
ds = PromptDataset(data, tok, strategy, input_template=args.data.input_template)
urls = args.reward.remote_url or []
print(json.dumps({
    "remote_url_sha256": [hashlib.sha256(u.encode()).hexdigest() for u in urls],
    "remote_url_masked": [u.split("token=")[0] + ("token=<set>" if "token=" in u else "") for u in urls],
    "reward_model": args.reward.model_name_or_path, "estimator": args.algo.advantage.estimator,
    "label_key": args.data.label_key, "prompts": ds.prompts, "labels": ds.labels,
}))
