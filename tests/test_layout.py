"""The package's import graph has no cycle, counting imports inside functions (issue 32): a module
that needs another only at call time still depends on it. Read with ast, nothing is imported."""
import ast
from pathlib import Path

from conftest import ROOT
from rlhf_eval.stages import STAGES

PKG = ROOT / "rlhf_eval"


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def import_graph() -> dict[str, set[str]]:
    files = sorted(PKG.rglob("*.py"))
    known = {module_name(f) for f in files}
    graph: dict[str, set[str]] = {}
    for f in files:
        here = module_name(f)
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            # `from pkg import sub` depends on pkg.sub when that is a module, else on pkg
            graph.setdefault(here, set()).update(t for t in targets if t in known and t != here)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in list(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycle_even_inside_functions():
    graph = import_graph()
    assert len(graph) > 100 and "rlhf_eval.registry" in graph["rlhf_eval.stages"]
    assert cycles(graph) == []


def test_the_cycle_check_finds_one():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


# A stage's name, as a string, belongs to its own package (its wiring module declares it): the rest
# of the system reads stages through stages.Stage. `compare` and `report` are left out because they
# are also the names of CLI commands and of result fields. The deliberate exceptions:
NAMED_ELSEWHERE = {
    # the registry itself, one line per stage
    **{("rlhf_eval/stages.py", name): "the registry" for name in STAGES if name not in ("compare", "report")},
    # the report node's input role for the curated data, part of every report's key (report.wiring)
    ("rlhf_eval/report/wiring.py", "curate"): "a dep role kept for the node keys",
    # trust reads a model path from a run folder and believes it when it lies in a toy-world cache
    # (<cache>/toy_world/<key>), whichever cache that run used; trust imports nothing above store
    ("rlhf_eval/trust.py", "toy_world"): "the cache layout, read without the registry",
}


def test_no_stage_is_named_outside_its_own_package():
    home = {name: ref.split(":")[0].split(".")[1] for name, ref in STAGES.items() if name not in ("compare", "report")}
    found = set()
    for f in sorted(PKG.rglob("*.py")):
        package = f.relative_to(PKG).parts[0]
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Constant) and node.value in home and home[node.value] != package:
                found.add((str(f.relative_to(ROOT)), node.value))
    assert found - set(NAMED_ELSEWHERE) == set(), "a stage named outside its package: read it through stages.Stage"
    assert set(NAMED_ELSEWHERE) <= found, "an exception no longer needed: remove it from NAMED_ELSEWHERE"
