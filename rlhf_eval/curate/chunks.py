"""Sources cut into chunks that workers read on their own (the Ray engine's reading side).

A chunk is a byte range of a JSON-lines file (cut at line ends), a row group of a Parquet file, a
slice of a hub dataset, or a whole .json file (a JSON list cannot be cut without parsing it).
Reading a chunk gives what load_pairs gives for those rows: the same row numbers, the same
default ids, the same problems (the same messages), so both engines say the same about a row.
Planning reads no rows: file sizes, a few bytes at each cut, Parquet footers, a hub dataset's
length.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from rlhf_eval.data.pairs import DataError, RowProblem, json_values, parse_row, read_rows

CHUNK_BYTES = 32 << 20
HUB_ROWS = 100_000


@dataclass
class Chunk:
    index: int           # position among every chunk, in the order rows are curated
    source: int          # the source's position in the recipe
    name: str            # the source's name
    path: str            # the file, or hf:<id>
    kind: str            # jsonl | parquet | json | hf
    start: int           # jsonl: first byte; parquet: row group; hf: first row; json: 0
    end: int             # jsonl: end byte; parquet: row group + 1; hf: end row; json: 0
    first_line: int = 1  # the file line of the chunk's first line (jsonl: known after count_lines)
    first_row: int = 1   # the row number of its first row: blank lines are not rows (known after count_lines)
    columns: dict | None = None
    split: str = "train"
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def _jsonl_cuts(path: Path, size: int) -> list[tuple[int, int]]:
    """Byte ranges of about `size` bytes, each ending just after a newline (or at the end)."""
    total = path.stat().st_size
    cuts, at = [], 0
    with open(path, "rb") as fh:
        while at < total:
            end = min(at + size, total)
            if end < total:
                fh.seek(end)
                rest = fh.readline()
                end = min(end + len(rest), total)
            cuts.append((at, end))
            at = end
    return cuts or [(0, 0)]


def plan(sources: list[tuple[str, str, dict | None, str]], chunk_bytes: int = CHUNK_BYTES,
         hub_rows: int = HUB_ROWS) -> list[Chunk]:
    """Chunks of (name, resolved path, columns, split) sources, in curation order."""
    out: list[Chunk] = []
    for s, (name, path, columns, split) in enumerate(sources):
        common = dict(source=s, name=name, path=str(path), columns=columns, split=split)
        if str(path).startswith("hf:"):
            import datasets
            try:
                rows = datasets.load_dataset(str(path)[3:], split=split).num_rows
            except Exception as exc:  # offline machines, unknown ids, gated sets
                raise DataError(f"{path}: cannot load split '{split}' from the hub: "
                                f"{str(exc).splitlines()[0]}") from None
            for a in range(0, max(rows, 1), hub_rows):
                out.append(Chunk(len(out), kind="hf", start=a, end=min(a + hub_rows, rows), first_line=a + 1,
                                 first_row=a + 1, **common))
            continue
        p = Path(path)
        if not p.is_file():
            raise DataError(f"{p}: no such file")
        if p.suffix == ".jsonl":
            for a, b in _jsonl_cuts(p, chunk_bytes):
                out.append(Chunk(len(out), kind="jsonl", start=a, end=b, **common))
        elif p.suffix == ".parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq
            try:
                meta = pq.ParquetFile(p).metadata
            except (pa.ArrowException, OSError) as exc:
                raise DataError(f"{p}: not a readable Parquet file ({str(exc).splitlines()[0]})") from None
            line = 1
            for g in range(max(meta.num_row_groups, 1)):
                out.append(Chunk(len(out), kind="parquet", start=g, end=g + 1, first_line=line, first_row=line,
                                 **common))
                line += meta.row_group(g).num_rows if meta.num_row_groups else 0
        elif p.suffix == ".json":
            out.append(Chunk(len(out), kind="json", start=0, end=0, **common))
        else:
            raise DataError(f"{p}: unsupported file type {p.suffix!r} (use .jsonl, .json or .parquet)")
    return out


def _blank(line: bytes) -> bool:
    """A line json_lines skips: only whitespace, as str.strip sees it."""
    if not line.strip():
        return True
    if line.isascii():
        return False
    return not line.decode("utf-8", errors="replace").strip()


def count_lines(chunk: dict) -> tuple[int, int]:
    """(lines, rows) of a JSON-lines chunk: its last line may lack a newline; a blank line is a
    line, not a row (load_pairs numbers rows, read errors name lines)."""
    with open(chunk["path"], "rb") as fh:
        fh.seek(chunk["start"])
        data = fh.read(chunk["end"] - chunk["start"])
    lines = data.splitlines()
    return len(lines), sum(not _blank(line) for line in lines)


def raw_rows(chunk: dict):
    """(row number, value) of each row of a chunk; a line that is not UTF-8 or not JSON is a
    DataError naming the file and line, as read_rows says it."""
    kind, path = chunk["kind"], chunk["path"]
    if kind == "jsonl":
        with open(path, "rb") as fh:
            fh.seek(chunk["start"])
            data = fh.read(chunk["end"] - chunk["start"])
        for row, (_, value) in enumerate(json_values(path, data.splitlines(keepends=True), chunk["first_line"]),
                                         chunk["first_row"]):
            yield row, value
    elif kind == "parquet":
        import pyarrow.parquet as pq
        pf = pq.ParquetFile(path)
        rows = pf.read_row_group(chunk["start"]).to_pylist() if pf.metadata.num_row_groups else []
        yield from enumerate(rows, chunk["first_row"])
    elif kind == "json":
        yield from enumerate(read_rows(Path(path)), 1)
    elif kind == "hf":
        import datasets
        ds = datasets.load_dataset(path[3:], split=chunk["split"])
        yield from enumerate(ds.select(range(chunk["start"], chunk["end"])).to_list(), chunk["first_row"])
    else:
        raise ValueError(kind)


def checked_rows(chunk: dict):
    """(row number, pair or None, problem or None) of each row of a chunk: the pair as load_pairs
    makes it (id, source, contract fields, meta), or the RowProblem that row has."""
    for i, row in raw_rows(chunk):
        try:
            pair = parse_row(row, chunk["columns"])
        except RowProblem as bad:
            yield i, None, bad
            continue
        meta = row.get("meta") if isinstance(row.get("meta"), dict) else {}
        yield i, {"id": str(row.get("id", f"{chunk['name']}-{i:06d}")), "source": chunk["name"], **pair,
                  "meta": meta}, None
