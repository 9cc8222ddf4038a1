"""`curate.engine: ray` from the sources to the written outputs, for recipes whose steps are all
data steps (dedup, near_dedup, decontaminate, filter).

1. The sources are cut into chunks (chunks.py); Ray Data tasks count the lines of JSON-lines
   chunks, so every row's number (and default id) is known without reading it here.
2. Each task reads its chunk, checks every row as load_pairs does (a bad row becomes a row with
   its field and reason) and computes the features (features.batch_features, the filter's code).
   The result holds no text, only keys, codes and ids.
3. Exact and near-dedup groups come from shuffles (ray_data.grouped); the tasks pick the rows the
   filter removes and those that match a benchmark. Groups and picks stay in the object store: one
   Ray task (`_decide`) collects them and decides in the recipe's order (decide.py, as the local
   engine does), keeping the rows removed with their reasons (decide.Removed) in the object store.
4. Tasks read their chunk again and write its kept rows (curated/part-NNNNNN.jsonl, the contract;
   dataset/part-NNNNNN.parquet, TRL's conversational format) and its removed rows with their
   reasons (dropped/part-NNNNNN.jsonl).

So this process holds counts, the funnel and object refs: no row number, never a row. The decide
task holds the row numbers of the rows in a duplicate group or removed. The kept and removed rows,
reasons and funnel equal the local engine's (tests/curate/test_ray_engine.py); dropped rows are
in row order, where the local engine lists them step by step.
"""
from __future__ import annotations

import heapq
import json
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa

from rlhf_eval.curate import chunks as chunking
from rlhf_eval.curate import decide, features, ray_data
from rlhf_eval.curate.ray_data import BATCH_ROWS, DEDUP, _bands, ray_session, release_freed
from rlhf_eval.data.pairs import DataError, trl_rows

REASONS = ("duplicate", "near_duplicate", "contaminated") + decide.FILTER_REASONS  # status codes 1..6
CODE = {r: i + 1 for i, r in enumerate(REASONS)}
MARGIN, LABEL = 1, 2  # flag bits: the row has a margin, a label
BAD_ROWS_LISTED = 1000


# ------------------------------------------------------------------ tasks
def _count_lines(batch: dict, chunks: list[dict]) -> dict:
    counted = np.array([chunking.count_lines(chunks[int(k)]) for k in batch["id"]], np.int64).reshape(-1, 2)
    return {"chunk": batch["id"], "lines": counted[:, 0], "rows": counted[:, 1]}


def _read_features(batch: dict, chunks: list[dict], wanted: list[str], index_ref: list, near, filt) -> pa.Table:
    """One chunk read and checked, one row out per input row: good rows (state 0) with their rank
    among the chunk's good rows, id, flags and features; bad rows (1) with field and reason; a
    chunk that cannot be read (2) as one row holding the error."""
    from rlhf_eval.curate.ray_data import _index
    k = int(batch["id"][0])
    chunk = chunks[k]
    good, lines, bad = [], [], []
    fatal = None
    try:
        for i, pair, problem in chunking.checked_rows(chunk):
            if problem is None:
                good.append(pair)
                lines.append(i)
            else:
                bad.append((i, problem.field, problem.reason))
    except DataError as exc:
        fatal = str(exc)
    n, m = len(good), len(bad) + (fatal is not None)
    out = {"chunk": np.full(n + m, k, np.int32),
           "state": np.concatenate([np.zeros(n, np.int8), np.ones(len(bad), np.int8), [2] * (fatal is not None)]
                                   ).astype(np.int8),
           "line": np.array(lines + [b[0] for b in bad] + [0] * (fatal is not None), np.int64),
           "rank": np.concatenate([np.arange(n), np.full(m, -1)]).astype(np.int64),
           "field": pa.array([None] * n + [b[1] for b in bad] + [None] * (fatal is not None), pa.string()),
           "reason": pa.array([None] * n + [b[2] for b in bad] + ([fatal] if fatal else []), pa.string()),
           "id": pa.array([p["id"] for p in good] + [None] * m, pa.string()),
           "flags": np.array([(p.get("margin") is not None) * MARGIN + (p.get("label") is not None) * LABEL
                              for p in good] + [0] * m, np.int8)}
    feats: dict = {}
    index = _index(index_ref)
    for a in range(0, n, features.BATCH):
        part = good[a:a + features.BATCH]
        for key, value in features.batch_features(features.columns(part), set(wanted), index, near).items():
            if key == "decontaminate":
                matched = [value.get(j, []) for j in range(len(part))]
                feats.setdefault(key, []).extend(matched)
            else:
                feats.setdefault(key, []).append(value)
    pad = m
    if "dedup" in wanted:
        keys = np.concatenate(feats["dedup"]) if n else np.zeros((0, 4), np.uint64)
        keys = np.concatenate([keys, np.zeros((pad, 4), np.uint64)])
        out |= {name: keys[:, j] for j, name in enumerate(DEDUP)}
    if "near_dedup" in wanted:
        width = features.minhash.band_params(near[0], near[1])[0]
        bands = np.concatenate(feats["near_dedup"]) if n else np.zeros((0, width), np.uint64)
        bands = np.concatenate([bands, np.zeros((pad, width), np.uint64)])
        out["bands"] = pa.FixedSizeListArray.from_arrays(pa.array(bands.reshape(-1)), width)
    if "decontaminate" in wanted:
        out["matched"] = pa.array(feats.get("decontaminate", []) + [[]] * pad, pa.list_(pa.string()))
    if "filter" in wanted:
        lengths = np.concatenate(feats["filter"]) if n else np.zeros((0, 2), np.int64)
        margins = np.array([np.nan if p.get("margin") is None else p["margin"] for p in good], float)
        codes = decide.filter_codes(lengths, margins, *filt) if n else np.zeros(0, np.int8)
        out["fcode"] = np.concatenate([codes, np.zeros(pad, np.int8)])
    return pa.table(out)


def _dense(batch: pa.Table, offsets: np.ndarray) -> pa.Table:
    """The good rows, with their row number among every good row of every source (curation order)."""
    good = batch.filter(pa.compute.equal(batch["state"], 0))
    rows = offsets[good["chunk"].to_numpy()] + good["rank"].to_numpy()
    return good.drop_columns(["state", "line", "rank", "field", "reason"]).append_column("row", pa.array(rows))


def _status(removed: decide.Removed, lo: int, hi: int) -> np.ndarray:
    """The status code of rows lo to hi - 1 (0: kept; REASONS, 1-based)."""
    rows, codes = removed.between(lo, hi)
    status = np.zeros(hi - lo, np.int8)
    status[rows - lo] = codes
    return status


def _write(batch: dict, chunks: list[dict], offsets: np.ndarray, removed_ref: list, near_ref: list,
           matched_ref: list, out_dir: str, optional: list[str]) -> dict:
    """One chunk read again and written: its kept rows and its removed rows with their reasons."""
    import ray
    k = int(batch["id"][0])
    status = _status(ray.get(removed_ref[0]), int(offsets[k]), int(offsets[k + 1]))
    near_rows, near_ids = ray.get(near_ref[0])
    matched_rows, matched = ray.get(matched_ref[0])
    kept, dropped, rank = [], [], 0
    for _, pair, problem in chunking.checked_rows(chunks[k]):
        if problem is not None:
            continue
        row = int(offsets[k]) + rank
        code = int(status[rank])
        rank += 1
        if code == 0:
            kept.append(pair)
            continue
        extra = {"reason": REASONS[code - 1]}
        if extra["reason"] == "near_duplicate":
            extra["near_duplicate_of"] = near_ids[int(np.searchsorted(near_rows, row))].as_py()
        elif extra["reason"] == "contaminated":
            extra["matched"] = matched[int(np.searchsorted(matched_rows, row))].as_py()
        dropped.append(pair | extra)
    out = Path(out_dir)
    name = f"part-{k:06d}"
    if kept:
        _jsonl(out / "curated" / f"{name}.jsonl", kept)
        rows = [r | {"meta": json.dumps(r["meta"], sort_keys=True)}
                for r in trl_rows(kept, keep=("id", "source", "meta") + tuple(optional))]
        import pyarrow.parquet as pq
        pq.write_table(pa.Table.from_pylist(rows), out / "dataset" / f"{name}.parquet")
    if dropped:
        _jsonl(out / "dropped" / f"{name}.jsonl", dropped)
    return {"chunk": np.array([k]), "kept": np.array([len(kept)]), "dropped": np.array([len(dropped)])}


def _jsonl(path: Path, rows: list[dict]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w") as fh:
        for row in rows:
            fh.write(json.dumps(row, sort_keys=True) + "\n")
    os.replace(tmp, path)


# ------------------------------------------------------------------ this process
class _BadRows:
    """Bad rows counted by (reason, source), the first BAD_ROWS_LISTED in row order kept, and the
    first of each source (what on_bad_row: error raises)."""

    def __init__(self):
        self.count: Counter = Counter()
        self.heap: list = []  # the listed ones, as a max-heap on (chunk, line)
        self.first: dict[int, tuple] = {}

    def add(self, chunk: dict, line: int, field: str, reason: str) -> None:
        self.count[(reason, chunk["name"])] += 1
        key = (chunk["index"], line)
        item = (key, {"source": chunk["name"], "file": chunk["path"], "row": line, "field": field, "reason": reason})
        if chunk["source"] not in self.first or key < self.first[chunk["source"]][0]:
            self.first[chunk["source"]] = item
        neg = (-key[0], -key[1])
        if len(self.heap) < BAD_ROWS_LISTED:
            heapq.heappush(self.heap, (neg, item[1]))
        elif neg > self.heap[0][0]:
            heapq.heapreplace(self.heap, (neg, item[1]))

    def listed(self) -> list[dict]:
        return [row for _, row in sorted(self.heap, key=lambda x: (-x[0][0], -x[0][1]))]


def _counts(batch: pa.Table) -> dict:
    """Per chunk in the batch: good rows, and rows (good or bad); a Ray task's answer."""
    chunk, state = batch["chunk"].to_numpy(), batch["state"].to_numpy()
    ids, at = np.unique(chunk, return_inverse=True)
    return {"chunk": ids, "good": np.bincount(at[state == 0], minlength=len(ids)),
            "total": np.bincount(at[state < 2], minlength=len(ids))}


def _problems(batch: pa.Table) -> pa.Table:
    """The bad and unreadable rows only."""
    return batch.select(["chunk", "state", "line", "field", "reason"]).filter(pa.compute.greater(batch["state"], 0))


def _scan(ds, chunks: list[dict], bad: _BadRows) -> tuple[np.ndarray, np.ndarray, dict[int, tuple]]:
    """Good rows and all rows per chunk, bad rows, and each source's first unreadable row; the
    tasks count and pick, this process reads only the counts and the bad rows."""
    good = np.zeros(len(chunks), np.int64)
    total = np.zeros(len(chunks), np.int64)
    for b in ds.map_batches(_counts, batch_format="pyarrow").iter_batches(
            batch_format="numpy", batch_size=BATCH_ROWS):
        np.add.at(good, b["chunk"], b["good"])
        np.add.at(total, b["chunk"], b["total"])
    fatal: dict[int, tuple] = {}
    for b in ds.map_batches(_problems, batch_format="pyarrow").iter_batches(batch_format="pyarrow",
                                                                           batch_size=BATCH_ROWS):
        for chunk, state, line, field, reason in zip(*(b[k].to_pylist() for k in
                                                        ("chunk", "state", "line", "field", "reason"))):
            c = chunks[chunk]
            if state == 1:
                bad.add(c, line, field, reason)
            elif c["source"] not in fatal or c["index"] < fatal[c["source"]][0]:
                fatal[c["source"]] = (c["index"], reason)
    return good, total, fatal


def _check_sources(sources, chunks, total, fatal, bad: _BadRows, on_bad_row: str) -> None:
    """The errors load_all would raise, in its order: per source, an unreadable row, an empty
    source, then (on_bad_row: error) its first bad row."""
    for s, (name, path, _, split) in enumerate(sources):
        if s in fatal:
            raise DataError(fatal[s][1])
        rows = sum(int(total[c["index"]]) for c in chunks if c["source"] == s)
        if not rows:
            raise DataError(f"{path}: the file is empty (no rows)" if not str(path).startswith("hf:")
                            else f"{path}: split '{split}' has no rows")
        if on_bad_row == "error" and s in bad.first:
            first = bad.first[s][1]
            raise DataError(f"{first['file']}: row {first['row']}: field '{first['field']}': {first['reason']}")


def _marked(batch: pa.Table, wanted: list[str]) -> pa.Table:
    """The rows the filter removes (with their code) or that match a benchmark (with the ids)."""
    keep = np.zeros(batch.num_rows, bool)
    cols = ["row"]
    if "filter" in wanted:
        keep |= batch["fcode"].to_numpy() > 0
        cols.append("fcode")
    if "decontaminate" in wanted:
        keep |= pa.compute.list_value_length(batch["matched"]).to_numpy(zero_copy_only=False) > 0
        cols.append("matched")
    return batch.select(cols).filter(pa.array(keep))


def _marks(tables, wanted: list[str]) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, pa.Array]]:
    """The rows the filter removes with their codes, and the rows that match a benchmark with
    their ids, both sorted by row, from the few rows the tasks pick (`_marked`'s tables)."""
    filt_rows, filt_codes, hit_rows, hit_ids = [], [], [], []
    for b in tables:
        rows = b["row"].to_numpy()
        if "filter" in wanted:
            code = b["fcode"].to_numpy()
            filt_rows.append(rows[code > 0])
            filt_codes.append(code[code > 0])
        if "decontaminate" in wanted:
            hit = np.flatnonzero(pa.compute.list_value_length(b["matched"]).to_numpy(zero_copy_only=False) > 0)
            if len(hit):
                hit_rows.append(rows[hit])
                hit_ids.append(b["matched"].take(pa.array(hit)).combine_chunks())
    rows = np.concatenate(filt_rows) if filt_rows else np.zeros(0, np.int64)
    codes = np.concatenate(filt_codes) if filt_codes else np.zeros(0, np.int8)
    order = np.argsort(rows)
    found = np.concatenate(hit_rows) if hit_rows else np.zeros(0, np.int64)
    ids = pa.concat_arrays(hit_ids) if hit_ids else pa.array([], pa.list_(pa.string()))
    ranked = np.argsort(found)
    return (rows[order], codes[order]), (found[ranked], ids.take(pa.array(ranked)))


def _pick_ids(batch: pa.Table, targets_ref: list) -> pa.Table:
    import ray
    targets = ray.get(targets_ref[0])
    return batch.select(["row", "id"]).filter(pa.array(decide.in_sorted(batch["row"].to_numpy(), targets)))


def _tables(refs: list):
    """The Arrow tables behind these refs, fetched one at a time (a task's args would be all at once)."""
    import ray
    for ref in refs:
        yield ray.get(ref)


def _near_pairs(near: tuple[np.ndarray, np.ndarray], targets: np.ndarray, picked: list) -> tuple:
    """Near-dedup's removed rows with the ids of the rows they duplicate, from the (row, id) tables
    the tasks picked for `targets` (sorted, unique rows): an Arrow array, not a Python str a row."""
    near_rows, near_of = near
    found_rows, found_ids = [], []
    for table in _tables(picked):
        found_rows.append(table["row"].to_numpy())
        found_ids.append(table["id"].combine_chunks())
    got = np.concatenate(found_rows) if found_rows else np.zeros(0, np.int64)
    ids = pa.concat_arrays(found_ids) if found_ids else pa.array([], pa.string())
    ids = ids.take(pa.array(np.argsort(got)))
    return near_rows, (ids.take(pa.array(np.searchsorted(targets, near_of))) if len(targets)
                       else pa.array([], pa.string()))


def _lacking(batch: pa.Table, removed_ref: list) -> dict:
    """Kept rows without a margin, without a label: whether the dataset can have those columns."""
    import ray
    kept = ray.get(removed_ref[0])[batch["row"].to_numpy()]
    flags = batch["flags"].to_numpy()
    return {"margin": np.array([np.count_nonzero(kept & (flags & MARGIN == 0))]),
            "label": np.array([np.count_nonzero(kept & (flags & LABEL == 0))])}


def _number_rows(ray, chunks: list[dict]) -> None:
    """Each JSON-lines chunk's first line and row number, from every chunk's counts (Ray tasks)."""
    jsonl = [c["index"] for c in chunks if c["kind"] == "jsonl"]
    if not jsonl:
        return
    counted = {}
    for b in ray.data.from_items([{"id": k} for k in jsonl]).map_batches(
            _count_lines, batch_size=1, fn_kwargs={"chunks": chunks}).iter_batches(batch_format="numpy",
                                                                                   batch_size=BATCH_ROWS):
        counted.update(zip(b["chunk"].tolist(), zip(b["lines"].tolist(), b["rows"].tolist())))
    line, row = {}, {}
    for c in chunks:
        if c["kind"] == "jsonl":
            c["first_line"], c["first_row"] = line.get(c["path"], 1), row.get(c["path"], 1)
            line[c["path"]] = c["first_line"] + counted[c["index"]][0]
            row[c["path"]] = c["first_row"] + counted[c["index"]][1]


def decide_steps(steps: list[str], groups: dict, hit_rows: np.ndarray, marked: tuple[np.ndarray, np.ndarray],
                 bounds: np.ndarray, names: list[str]):
    """The steps in order on rows 0 to bounds[-1] - 1 (decide.py, as the local engine): (the rows
    removed with their status codes, (near-dedup's removed rows, the rows they duplicate), the
    funnel's counts, its dropped entries). A source's rows are rows bounds[s] to bounds[s + 1];
    `marked`: the rows the filter removes and their filter codes, sorted by row."""
    n = int(bounds[-1])
    removed = decide.Removed()
    near = (np.zeros(0, np.int64), np.zeros(0, np.int64))

    def by_source():
        cut = np.searchsorted(removed.rows, bounds)
        counts = {name: int(bounds[s + 1] - bounds[s] - (cut[s + 1] - cut[s])) for s, name in enumerate(names)}
        return {k: v for k, v in counts.items() if v}

    counts, dropped = [{"step": "input", "count": n, "by_source": by_source()}], []
    for name in steps:
        if name == "dedup":
            gone = decide.dedup(removed, groups["dedup"])
            why = np.full(len(gone), CODE["duplicate"], np.int8)
        elif name == "near_dedup":
            gone, of = decide.near_dedup(removed, groups["near_dedup"])
            order = np.argsort(gone)
            gone, near = gone[order], (gone[order], of[order])
            why = np.full(len(gone), CODE["near_duplicate"], np.int8)
        elif name == "decontaminate":
            gone = decide.decontaminate(removed, hit_rows)
            why = np.full(len(gone), CODE["contaminated"], np.int8)
        else:
            live = removed[marked[0]]
            gone = marked[0][live]
            why = (marked[1][live] + CODE["too_short"] - 1).astype(np.int8)
        removed.add(gone, why)
        source = np.searchsorted(bounds[1:], gone, side="right")
        tally = Counter(zip((REASONS[c - 1] for c in why.tolist()), (names[s] for s in source.tolist())))
        step = [{"step": name, "reason": r, "source": s, "dropped": k} for (r, s), k in sorted(tally.items())]
        dropped += step
        counts.append({"step": name, "count": n - len(removed.rows), "by_source": by_source()})
        if not counts[-1]["count"]:
            reasons = ", ".join(f"{d['reason']} from {d['source']}: {d['dropped']}" for d in step)
            raise decide.EmptyAfterStep(f"curate: step '{name}' removed every remaining pair "
                                        f"({counts[-2]['count']} -> 0; {reasons})")
    return removed, near, counts, dropped


def _decide(steps: list[str], wanted: list[str], group_blocks: dict, marked_blocks: list, bounds: np.ndarray,
            names: list[str]):
    """A Ray task: the groups and marks collected from their blocks in the object store and the
    steps decided (decide_steps), so the stage process never holds a row number. Returns the
    removed rows, near-dedup's (removed rows, rows they duplicate), its targets (sorted, unique),
    the benchmark hits (rows, ids), and a summary for the stage process: counts, dropped entries,
    rows removed, targets, or the error a step raised."""
    groups = {name: ray_data.collect_groups(_tables(refs)) for name, refs in group_blocks.items()}
    marked, hits = _marks(_tables(marked_blocks), wanted)
    try:
        removed, near, counts, dropped = decide_steps(steps, groups, hits[0], marked, bounds, names)
    except decide.EmptyAfterStep as exc:
        return None, None, None, None, {"error": str(exc)}
    del groups, marked
    release_freed()
    targets = np.unique(near[1])
    return removed, near, targets, hits, {"counts": counts, "dropped": dropped, "removed": len(removed.rows),
                                          "targets": len(targets), "error": None}


def curate(sources: list[tuple[str, str, dict | None, str]], steps: list[str], settings, on_bad_row: str,
           out_dir: Path, chunk_bytes: int = chunking.CHUNK_BYTES, bar=None) -> dict:
    """The curate stage's outputs for data steps only, computed on Ray Data and written by its
    workers into out_dir. `sources`: (name, resolved path, columns, split); `settings`:
    steps.DataSettings."""
    import ray

    def progress(k):
        if bar:
            bar(k)

    with ray_session() as cpus:
        chunks = [c.as_dict() for c in chunking.plan(sources, chunk_bytes)]
        _number_rows(ray, chunks)
        progress(1)

        wanted = sorted(set(steps))
        index_ref = [ray.put(settings.index)] if settings.index is not None and "decontaminate" in wanted else []
        read = ray.data.from_items([{"id": c["index"]} for c in chunks]).map_batches(
            _read_features, batch_size=1, num_cpus=1,
            fn_kwargs={"chunks": chunks, "wanted": wanted, "index_ref": index_ref, "near": settings.near,
                       "filt": settings.filter}).materialize()
        bad = _BadRows()
        good, total, fatal = _scan(read, chunks, bad)
        _check_sources(sources, chunks, total, fatal, bad, on_bad_row)
        release_freed()
        offsets = np.concatenate([[0], np.cumsum(good)]).astype(np.int64)
        n = int(offsets[-1])
        rows = read.map_batches(_dense, batch_format="pyarrow", fn_kwargs={"offsets": offsets}).materialize()
        progress(2)

        # The picks and the groups stay in the object store; one task collects them and decides.
        marked = (rows.map_batches(_marked, batch_format="pyarrow", fn_kwargs={"wanted": wanted}).to_arrow_refs()
                  if "filter" in wanted or "decontaminate" in wanted else [])
        groups = {}
        if "dedup" in wanted:
            groups["dedup"] = ray_data.grouped(rows.select_columns(["row", *DEDUP]), DEDUP, n, cpus).to_arrow_refs()
        if "near_dedup" in wanted:
            width = features.minhash.band_params(settings.near[0], settings.near[1])[0]
            groups["near_dedup"] = ray_data.grouped(rows.select_columns(["row", "bands"]).map_batches(
                _bands, batch_format="pyarrow"), ["band", "key"], n * width, cpus).to_arrow_refs()
        first_chunk = [min(c["index"] for c in chunks if c["source"] == s) for s in range(len(sources))]
        bounds = np.array([int(offsets[k]) for k in first_chunk] + [n])  # a source's rows: one range
        removed_ref, near_ref, targets_ref, matched_ref, summary_ref = ray.remote(_decide).options(
            num_cpus=1, num_returns=5).remote(steps, wanted, groups, marked, bounds, [s[0] for s in sources])
        summary = ray.get(summary_ref)
        del groups, marked  # the task is done with them (its returns are ready): their blocks can go
        if summary["error"]:
            raise decide.EmptyAfterStep(summary["error"])
        counts, dropped = summary["counts"], summary["dropped"]
        release_freed()
        progress(3)

        lacking = Counter()
        for b in rows.map_batches(_lacking, batch_format="pyarrow", fn_kwargs={"removed_ref": [removed_ref]}
                                  ).iter_batches(batch_format="numpy", batch_size=BATCH_ROWS):
            lacking.update({k: int(b[k].sum()) for k in ("margin", "label")})
        optional = [k for k in ("margin", "label") if not lacking[k]]
        picked = (rows.map_batches(_pick_ids, batch_format="pyarrow", fn_kwargs={"targets_ref": [targets_ref]}
                                   ).to_arrow_refs() if summary["targets"] else [])
        near_pair_ref = ray.remote(_near_pairs).options(num_cpus=1).remote(near_ref, targets_ref, picked)
        out_dir = Path(out_dir)
        for sub in ("curated", "dataset", "dropped"):
            (out_dir / sub).mkdir(parents=True, exist_ok=True)
        written = ray.data.from_items([{"id": c["index"]} for c in chunks]).map_batches(
            _write, batch_size=1, num_cpus=1,
            fn_kwargs={"chunks": chunks, "offsets": offsets, "removed_ref": [removed_ref],
                       "near_ref": [near_pair_ref], "matched_ref": [matched_ref],
                       "out_dir": str(out_dir), "optional": optional})
        kept_total = sum(int(b["kept"].sum()) for b in written.iter_batches(batch_format="numpy",
                                                                              batch_size=BATCH_ROWS))
        if kept_total != n - summary["removed"]:  # a source changed between the two reads
            raise DataError(f"curate: {kept_total} rows written where {n - summary['removed']} were kept: did a source "
                            "file change while it was curated?")
        progress(4)
        schema = [{"step": "schema", "reason": r, "source": s, "dropped": k} for (r, s), k in sorted(bad.count.items())]
        return {"path": str(out_dir / "curated"), "dataset": str(out_dir / "dataset"),
                "dropped_rows": str(out_dir / "dropped"),
                "dataset_columns": ["prompt", "chosen", "rejected", "id", "source", "meta", *optional],
                "n_pairs": kept_total, "counts": counts, "dropped": schema + dropped, "events": [],
                "bad_rows": bad.listed()}
