"""The OpenRLHF seam, driven from OpenRLHF 0.11.2's side with its own code (tests/openrlhf_side.py):
its remote-RM client against a running `serve-rm`, its loader on our classifier checkpoint, its
argparse-built args, `blending_datasets` and `PromptDataset` on our prompt file. vLLM is never
imported: a fixed-token engine stands in for generation."""
import json
from pathlib import Path

import numpy as np
import pytest

from openrlhf_side import need_openrlhf, run_openrlhf
from rlhf_eval.pipeline import node_manifests
from rlhf_eval.rm.scoring import load_scorer
from rlhf_eval.rm.serve import serve_in_thread

# OpenRLHF's SingleTurnAgentExecutor, as its PPO rollout calls it: the prompt comes out of its
# PromptDataset (chat-templated), the engine returns token ids ending with EOS, the client posts
# the decoded ids as `query`.
CLIENT = r'''
import asyncio, json, sys
from types import SimpleNamespace
from transformers import AutoTokenizer
from openrlhf.datasets import PromptDataset
from openrlhf.utils.agent import SingleTurnAgentExecutor

a = json.load(sys.stdin)
tok = AutoTokenizer.from_pretrained(a["tokenizer"])
data = SimpleNamespace(input_key="prompt", label_key="label", apply_chat_template=True)
strategy = SimpleNamespace(args=SimpleNamespace(data=data), is_rank_0=lambda: True)
ds = PromptDataset([{"prompt": r["prompt"], "label": r["label"]} for r in a["rows"]], tok, strategy)

class Engine:
    """vLLM stand-in: returns one fixed response, as token ids ending with EOS."""
    def __init__(self, text):
        self.text = text
    async def generate(self, prompt_ids, params, multi_modal_data=None):
        ids = tok(self.text, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        out = SimpleNamespace(token_ids=ids, text=self.text, finish_reason="stop", logprobs=None)
        return SimpleNamespace(outputs=[out])

async def main():
    ex = SingleTurnAgentExecutor(a["url"])
    jobs = [ex.execute(ds[i][1], ds[i][2], SimpleNamespace(max_tokens=64, logprobs=None), 256, tok,
                       Engine(r["response"])) for i, r in enumerate(a["rows"])]
    return await asyncio.gather(*jobs)

outs = asyncio.run(main())
print(json.dumps({"rewards": [o["reward"] for o in outs], "prompts": [o["prompt"] for o in outs]}))
'''


def rm_manifest(run_dir: Path, rm: str) -> dict:
    return node_manifests(run_dir, "train_rm", f"rm={rm}")[0]


def curated_rows(run_dir: Path, n: int) -> list[dict]:
    path = node_manifests(run_dir, "curate")[0]["outputs"]["path"]
    pairs = [json.loads(line) for line in Path(path).read_text().splitlines()[:n]]
    return [{"prompt": p["prompt"], "response": p[side], "label": ""} for p in pairs for side in ("chosen", "rejected")]


@pytest.mark.parametrize("rm", ["classifier-curated", "dpo-curated"])
def test_openrlhf_client_gets_local_rewards_from_serve_rm(reference_run, rm):
    need_openrlhf()
    run_dir, _ = reference_run
    manifest = rm_manifest(run_dir, rm)
    local = load_scorer(manifest)
    rows = curated_rows(run_dir, 24)
    want = local.score([r["prompt"] for r in rows], [r["response"] for r in rows])
    server, url = serve_in_thread(local, token="s3cret")
    try:
        # OpenRLHF's client sends no headers: the token rides in the URL.
        got = run_openrlhf(CLIENT, {"url": f"{url}?token=s3cret", "tokenizer": manifest["outputs"]["path"],
                                    "rows": rows})
    finally:
        server.shutdown()
    rewards = [r[0] if isinstance(r, list) else r for r in got["rewards"]]
    assert None not in rewards, "OpenRLHF's client got no reward (it swallows HTTP errors)"
    # The prompts it sent were templated once by its PromptDataset.
    assert all(p.startswith("<|user|>") and p.count("<|user|>") == 1 and p.endswith("<|assistant|> ")
               for p in got["prompts"])
    assert rewards == pytest.approx(want, abs=1e-4)
    r = float(np.corrcoef(rewards, want)[0, 1])
    # rows alternate chosen, rejected
    acc = np.mean([a > b for a, b in zip(rewards[::2], rewards[1::2])])
    print(f"{rm}: correlation with local scores {r:.6f} over {len(rows)} responses; chosen over "
          f"rejected {acc:.3f} through OpenRLHF's client, {np.mean([a > b for a, b in zip(want[::2], want[1::2])]):.3f} locally")
    assert r > 0.9999
