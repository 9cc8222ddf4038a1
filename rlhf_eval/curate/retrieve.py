"""Error-driven selection (Skywork-Reward-V2): for each seed pair, ask the current RM how sure it
is (p = sigmoid(r_chosen - r_rejected)) and retrieve k = 8 if p <= 0.5 else ceil(8 * (1 - p))
of its nearest pairs from the pool, so data is added where the RM is wrong or unsure.

Two embedders find the neighbours (curate.retrieve.embedder): "tfidf" (scikit-learn, word 1-2
grams) or "rm" (the mean last hidden state of the judge RM's own model).
"""
from __future__ import annotations

import math

import numpy as np

from rlhf_eval.curate.steps import judge_margins, sigmoid
from rlhf_eval.data.pairs import prompt_text
from rlhf_eval.errors import UserError


def pair_text(p: dict) -> str:
    return f"{prompt_text(p['prompt'])}\n{p['chosen']}\n{p['rejected']}"


class TfidfEmbedder:
    def __init__(self, corpus: list[str]):
        from sklearn.feature_extraction.text import TfidfVectorizer
        self.vectorizer = TfidfVectorizer(ngram_range=(1, 2), token_pattern=r"\S+").fit(corpus)

    def embed(self, texts: list[str]):
        return self.vectorizer.transform(texts)  # rows are L2-normalized


class HiddenStateEmbedder:
    """Mean of the last hidden states of the scorer's model over each text's tokens, computed on
    the device the model is on (a GPU on a cluster), returned as float32 on the CPU."""

    def __init__(self, scorer, batch_size: int = 64):
        if getattr(scorer, "model", None) is None:
            raise UserError(f"curate.retrieve.embedder=rm reads the judge RM's hidden states, which its "
                            f"{type(scorer).__name__} does not expose; give the judge card backend transformers, "
                            "or use curate.retrieve.embedder=tfidf")
        self.model, self.tok, self.batch_size = scorer.model, scorer.tok, batch_size

    def embed(self, texts: list[str]) -> np.ndarray:
        import torch
        out = []
        device = next(self.model.parameters()).device
        with torch.no_grad():
            for i in range(0, len(texts), self.batch_size):
                enc = self.tok(texts[i:i + self.batch_size], return_tensors="pt", padding=True,
                               truncation=True, max_length=256, add_special_tokens=False).to(device)
                hidden = self.model(**enc, output_hidden_states=True).hidden_states[-1].float()
                mask = enc["attention_mask"][..., None].float()
                out.append(((hidden * mask).sum(1) / mask.sum(1).clamp(min=1)).cpu().numpy())
        vec = np.concatenate(out)
        return vec / np.maximum(np.linalg.norm(vec, axis=1, keepdims=True), 1e-12)


def retrieval_k(p: float, k_max: int = 8) -> int:
    return k_max if p <= 0.5 else math.ceil(k_max * (1 - p))


def error_driven(seed: list[dict], pool: list[dict], scorer, embedder_name: str = "tfidf",
                 k_max: int = 8) -> tuple[list[dict], list[dict], list[dict]]:
    """(retrieved pool pairs, pool pairs not retrieved, one record per seed pair)."""
    from sklearn.neighbors import NearestNeighbors

    probs = [sigmoid(m) for m in judge_margins(scorer, seed)]
    ks = [min(retrieval_k(p, k_max), len(pool)) for p in probs]
    if embedder_name == "tfidf":
        embedder = TfidfEmbedder([pair_text(p) for p in seed + pool])
    elif embedder_name == "rm":
        embedder = HiddenStateEmbedder(scorer)
    else:
        raise UserError(f"unknown embedder '{embedder_name}'; use tfidf or rm")
    chosen_idx: set[int] = set()
    records = []
    if pool and max(ks, default=0) > 0:
        nn = NearestNeighbors(n_neighbors=max(ks), metric="cosine").fit(embedder.embed([pair_text(p) for p in pool]))
        _, neighbours = nn.kneighbors(embedder.embed([pair_text(p) for p in seed]))
        for s, p, k, row in zip(seed, probs, ks, neighbours):
            picked = row[:k].tolist()
            chosen_idx.update(picked)
            records.append({"seed": s["id"], "p": p, "k": k, "retrieved": [pool[i]["id"] for i in picked]})
    retrieved = [pool[i] | {"meta": pool[i]["meta"] | {"retrieved": True}} for i in sorted(chosen_idx)]
    rest = [pool[i] | {"reason": "not_retrieved"} for i in range(len(pool)) if i not in chosen_idx]
    return retrieved, rest, records
