"""`curate.engine: ray`: the data steps' per-row work on Ray Data workers.

The rows go out in blocks; Ray Data tasks compute features.batch_features on them (the benchmark
index is put in the object store once and fetched once per worker process). Exact dedup and
MinHash near-dedup are shuffles: rows are hash-partitioned by their dedup key, and by (band, band
key), each partition is grouped with numpy, and only groups of two rows or more come back.
Decontamination hits and word counts come back per row. decide.py then applies the steps in order,
exactly as for the local engine, so the output is the same; tests/curate/test_ray_data.py checks
that.

`evidence` serves a recipe with a judge step: its rows are read and checked on this process (file,
row and field in every error), what travels is the text the features need, and the decisions are
made here. A recipe of data steps only goes through ray_engine.py, where the rows never come here
and one Ray task decides.
"""
from __future__ import annotations

import functools
import logging
import os
from contextlib import contextmanager

import numpy as np
import pyarrow as pa

from rlhf_eval.curate import decide, features, minhash
from rlhf_eval.curate.ngrams import NgramIndex

DEDUP = ["d0", "d1", "d2", "d3"]
M_ARENA_MAX = -8  # glibc's mallopt parameter (malloc.h)
PART_ROWS = 1_000_000  # rows per shuffle partition (and per block going into the shuffle)
BATCH_ROWS = 65_536  # rows per batch this process reads back: few calls (Ray's default is 256), bounded memory


_INDEX: dict[str, NgramIndex] = {}


def _index(index_ref: list) -> NgramIndex | None:
    """The benchmark index, fetched from the object store once per worker process (Ray reuses
    them from task to task)."""
    if not index_ref:
        return None
    import ray
    key = index_ref[0].hex()
    if key not in _INDEX:
        _INDEX.clear()
        _INDEX[key] = ray.get(index_ref[0])
    return _INDEX[key]


def _features(batch: pa.Table, wanted: list[str], index_ref: list, near) -> pa.Table:
    """batch_features on one batch, flattened to columns."""
    f = features.batch_features(batch, set(wanted), _index(index_ref), near)
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


def _tag(batch: pa.Table, keys: list[str], parts: int) -> pa.Table:
    """The shuffle partition of each row: its key's last 64-bit part, modulo `parts`."""
    return batch.append_column("part", pa.array((batch[keys[-1]].to_numpy() % np.uint64(parts)).astype(np.int64)))


def _multi(batch: dict, columns: list[str]) -> dict:
    """Groups of two rows or more among one partition's rows, flat: each member row with its
    group's id (the partition in the high 32 bits), so no object per group travels or stays."""
    found = decide.groups_of(np.stack([batch[k] for k in columns], axis=1))
    part = np.int64(batch["part"][0]) if len(batch["part"]) else np.int64(0)
    return {"member": batch["row"][found.members].astype(np.int64),
            "gid": (part << np.int64(32)) + found.ids()}


def grouped(ds, keys: list[str], rows: int, cpus: int):
    """Rows sharing `keys`, by a shuffle (lazy): rows are hash-partitioned on the key, each
    partition is grouped with numpy (a call per partition, not per key); partitions of about 1M
    rows. A block out is one partition's groups of two rows or more, whole."""
    parts = max(2 * cpus, rows // PART_ROWS + 1)
    # The shuffle's input in blocks of about a partition's rows, not one per chunk: Ray Data's
    # bookkeeping in this process grows with input blocks x partitions.
    return (ds.map_batches(_tag, batch_format="pyarrow", batch_size=min(PART_ROWS, -(-rows // (2 * cpus)) or 1),
                           fn_kwargs={"keys": keys, "parts": parts})
            .groupby("part", num_partitions=parts)
            .map_groups(_multi, batch_format="numpy", fn_kwargs={"columns": keys}))


def collect_groups(blocks) -> decide.Groups:
    """The groups of `grouped`'s blocks (each a batch or table with "member" and "gid" columns,
    whole partitions). A group with the same rows as one already found is dropped as it arrives (a copy
    shares every MinHash band, a near copy most of them; for the decisions one such group is as
    good as five), so what is kept is about one group per duplicate, not one per band."""
    members, sizes = [], []
    seen = np.zeros(0, np.uint64)  # sorted signatures of the groups kept so far
    for block in blocks:
        member, gid = np.asarray(block["member"]), np.asarray(block["gid"])
        if not len(member):
            continue
        order = np.lexsort((member, gid))
        member, gid = member[order], gid[order]
        starts = np.flatnonzero(np.concatenate([[True], gid[1:] != gid[:-1]]))
        size = np.diff(np.append(starts, len(member)))
        # a group's signature: a sum of mixed members (order does not matter) and its size
        with np.errstate(over="ignore"):
            sig = np.add.reduceat(minhash.mix(member.astype(np.uint64)), starts) + minhash.mix(size.astype(np.uint64))
        _, first = np.unique(sig, return_index=True)
        fresh = np.zeros(len(sig), bool)
        fresh[first] = True
        fresh &= ~np.isin(sig, seen)
        seen = np.union1d(seen, sig[fresh])
        keep = np.repeat(fresh, size)
        members.append(member[keep])
        sizes.append(size[fresh])
        del block, member, gid, order, keep
        release_freed()  # what was freed for this block, before the next one comes
    member = np.concatenate(members) if members else np.zeros(0, np.int64)
    size = np.concatenate(sizes) if sizes else np.zeros(0, np.int64)
    del members, sizes, seen
    release_freed()
    return decide.Groups(member, np.concatenate([[0], np.cumsum(size)]).astype(np.int64))


def _groups(ds, keys: list[str], rows: int, cpus: int) -> decide.Groups:
    """`grouped`'s groups, collected in this process (whole blocks, so whole groups: a
    partition's output, 16 bytes a grouped row of about 1M rows, stays far below the size at which
    Ray splits a block)."""
    return collect_groups(grouped(ds, keys, rows, cpus).iter_batches(batch_format="numpy", batch_size=None))


@functools.cache
def _libc():
    """glibc's malloc controls, or None (macOS, musl: nothing to tune); looked up once, not per
    shuffle block."""
    import ctypes
    try:
        libc = ctypes.CDLL(None)
        return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None
    except OSError:
        return None


def release_freed() -> None:
    """Hands the pages this process has freed back to the system. Ray Data's threads here keep
    what a shuffle or a pass over every block freed in glibc's arenas; measured in
    benchmarks/curate_ray.py, that was most of what the stage process grew by from 2M to 10M
    pairs, not anything it still held."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


@contextmanager
def ray_session():
    """Ray for one curate step: the cluster named by RAY_ADDRESS, or one started here for the step
    (and stopped after it), with Ray Data quiet. Yields the cluster's CPUs."""
    import ray

    started = not ray.is_initialized()
    libc = _libc()
    if libc is not None:  # the threads Ray Data starts here share two malloc arenas, not one each
        libc.mallopt(M_ARENA_MAX, 2)
    if started:
        ray.init(address=os.environ.get("RAY_ADDRESS"), include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
    try:
        ray.data.DataContext.get_current().print_on_execution_start = False
        logging.getLogger("ray.data").setLevel(logging.ERROR)  # its "no available CPUs" fires between tasks
        yield max(int(ray.cluster_resources().get("CPU", 1)), 1)
    finally:
        if libc is not None:  # the process's default again (0: glibc's own count)
            libc.mallopt(M_ARENA_MAX, 0)
        if started:
            ray.shutdown()


def evidence(pairs: list[dict], wanted: set[str], index: NgramIndex | None = None,
             near: tuple | None = None, blocks: int | None = None) -> dict:
    """steps.evidence, computed on Ray Data: the same groups, hits and counts."""
    import ray

    with ray_session() as cpus:
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
            out["dedup"] = _groups(feats.select_columns(["row", *DEDUP]), DEDUP, len(pairs), cpus)
        if "near_dedup" in wanted:
            bands = near and minhash.band_params(near[0], near[1])[0]
            out["near_dedup"] = _groups(feats.select_columns(["row", "bands"]).map_batches(
                _bands, batch_format="pyarrow"), ["band", "key"], len(pairs) * bands, cpus)
        if "decontaminate" in wanted or "filter" in wanted:
            lengths = np.zeros((len(pairs), 2), np.int64)
            matched = {}
            cols = ["row"] + (["matched"] if "decontaminate" in wanted else []) + (
                ["len_chosen", "len_rejected"] if "filter" in wanted else [])
            for batch in feats.select_columns(cols).iter_batches(batch_format="pyarrow",
                                                                 batch_size=BATCH_ROWS):
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
