"""`curate.engine: ray`: the data steps' per-row work on Ray Data workers.

The rows go out in blocks; Ray Data tasks compute features.batch_features on them (the benchmark
index is put in the object store once and fetched once per worker process). Exact dedup and MinHash near-dedup
are shuffles: rows are grouped by their dedup key, and by (band, band key), and only groups of two
rows or more come back. Decontamination hits and word counts come back per row. decide.py then
applies the steps in order on this process, exactly as for the local engine, so the output is the
same; tests/curate/test_ray_data.py checks that.

Rows are read and checked on this process (file, row and field in every error); what travels is
the text the features need, not the pairs.
"""
from __future__ import annotations

import logging
import os

import numpy as np
import pyarrow as pa

from rlhf_eval.curate import features
from rlhf_eval.curate.ngrams import NgramIndex

DEDUP = ["d0", "d1", "d2", "d3"]


_INDEX: dict[str, NgramIndex] = {}


def _features(batch: pa.Table, wanted: list[str], index_ref: list, near) -> pa.Table:
    """batch_features on one batch, flattened to columns. The benchmark index is fetched from the
    object store once per worker process (Ray reuses them from task to task)."""
    index = None
    if index_ref:
        import ray
        key = index_ref[0].hex()
        if key not in _INDEX:
            _INDEX.clear()
            _INDEX[key] = ray.get(index_ref[0])
        index = _INDEX[key]
    f = features.batch_features(batch, set(wanted), index, near)
    out = {"row": batch["row"].combine_chunks()}
    if "dedup" in f:
        out |= {name: pa.array(f["dedup"][:, j]) for j, name in enumerate(DEDUP)}
    if "near_dedup" in f:
        out["bands"] = pa.FixedSizeListArray.from_arrays(pa.array(f["near_dedup"].reshape(-1)),
                                                         f["near_dedup"].shape[1])
    if "decontaminate" in f:
        hits = f["decontaminate"]
        out["matched"] = pa.array([hits.get(j, []) for j in range(batch.num_rows)], pa.list_(pa.string()))
    if "filter" in f:
        out["len_chosen"], out["len_rejected"] = pa.array(f["filter"][:, 0]), pa.array(f["filter"][:, 1])
    return pa.table(out)


def _bands(batch: pa.Table) -> pa.Table:
    """One row per (pair, band): the shuffle's input for near-dedup."""
    bands = batch["bands"].combine_chunks()
    width = bands.type.list_size
    return pa.table({"row": np.repeat(batch["row"].to_numpy(), width),
                     "band": np.tile(np.arange(width, dtype=np.uint64), len(batch)),
                     "key": bands.values.to_numpy(zero_copy_only=False)})


def _multi(group: dict) -> dict:
    """A group's rows, ascending, when it has two or more; nothing otherwise."""
    rows = np.sort(group["row"])
    return {"members": np.array([rows] if len(rows) > 1 else [], dtype=object)}


def _groups(ds, keys: list[str]) -> list[np.ndarray]:
    found = []
    for batch in ds.groupby(keys).map_groups(_multi, batch_format="numpy").iter_batches(batch_format="numpy"):
        found += [np.asarray(m, np.int64) for m in batch["members"]]
    return sorted(found, key=lambda g: int(g[0]))


def evidence(pairs: list[dict], wanted: set[str], index: NgramIndex | None = None,
             near: tuple[float, int, int] | None = None, blocks: int | None = None) -> dict:
    """steps.evidence, computed on Ray Data: the same groups, hits and counts."""
    import ray

    started = not ray.is_initialized()
    if started:
        # a cluster named by RAY_ADDRESS, or one started here for this step
        ray.init(address=os.environ.get("RAY_ADDRESS"), include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
    try:
        ray.data.DataContext.get_current().print_on_execution_start = False
        logging.getLogger("ray.data").setLevel(logging.ERROR)  # its "no available CPUs" fires between tasks
        cpus = max(int(ray.cluster_resources().get("CPU", 1)), 1)
        table = features.columns(pairs).append_column("row", pa.array(np.arange(len(pairs), dtype=np.int64)))
        parts = max(1, min(blocks or 4 * cpus, len(pairs)))
        step = -(-len(pairs) // parts) if pairs else 1
        ds = ray.data.from_arrow([table.slice(s, step) for s in range(0, max(len(pairs), 1), step)])
        index_ref = [ray.put(index)] if index is not None and "decontaminate" in wanted else []
        feats = ds.map_batches(_features, batch_format="pyarrow", batch_size=features.BATCH, num_cpus=1,
                               fn_kwargs={"wanted": sorted(wanted), "index_ref": index_ref, "near": near}
                               ).materialize()
        out: dict = {}
        if "dedup" in wanted:
            out["dedup"] = _groups(feats.select_columns(["row", *DEDUP]), DEDUP)
        if "near_dedup" in wanted:
            out["near_dedup"] = _groups(feats.select_columns(["row", "bands"]).map_batches(
                _bands, batch_format="pyarrow"), ["band", "key"])
        if "decontaminate" in wanted or "filter" in wanted:
            lengths = np.zeros((len(pairs), 2), np.int64)
            matched = {}
            cols = ["row"] + (["matched"] if "decontaminate" in wanted else []) + (
                ["len_chosen", "len_rejected"] if "filter" in wanted else [])
            for batch in feats.select_columns(cols).iter_batches(batch_format="pyarrow"):
                rows = batch["row"].to_numpy()
                if "filter" in wanted:
                    lengths[rows, 0] = batch["len_chosen"].to_numpy()
                    lengths[rows, 1] = batch["len_rejected"].to_numpy()
                if "decontaminate" in wanted:
                    for row, ids in zip(rows.tolist(), batch["matched"].to_pylist()):
                        if ids:
                            matched[row] = ids
            if "filter" in wanted:
                out["filter"] = lengths
            if "decontaminate" in wanted:
                out["decontaminate"] = matched
        return out
    finally:
        if started:
            ray.shutdown()
