"""The shape of the code (issue 13): one core for every front end.

No import cycle inside canbao; no module over about 800 lines; nothing below the front ends (services, rules,
tabular, policy, store) imports click, rich, getpass or the CLI. The import graph is grimp's (the library
import-linter is built on); imports under `if TYPE_CHECKING:` do not count, imports inside functions do.
"""

from __future__ import annotations

from pathlib import Path

import grimp
import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
MAX_LINES = 800
CORE = ["canbao.services", "canbao.rules", "canbao.tabular", "canbao.policy", "canbao.store"]
FRONT_END_ONLY = ["click", "rich", "getpass", "canbao.cli"]


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("canbao", include_external_packages=True, exclude_type_checking_imports=True)


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iteratively), each sorted."""
    modules = sorted(m for m in graph.modules if m == "canbao" or m.startswith("canbao."))
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0

    def edges(module: str) -> list[str]:
        return sorted(m for m in graph.find_modules_directly_imported_by(module) if m.startswith("canbao"))

    for root in modules:
        if root in index:
            continue
        work = [(root, iter(edges(root)))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(edges(child))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycle_inside_canbao(graph: grimp.ImportGraph) -> None:
    """A package importing a module of its own (canbao.cli → canbao.cli.main) is not a cycle: grimp records
    `import canbao.cli.common` as an import of canbao.cli.common only."""
    cycles = _cycles(graph)
    shown = []
    for component in cycles:
        chain = graph.find_shortest_chain(component[0], component[1]) or ()
        back = graph.find_shortest_chain(component[1], component[0]) or ()
        shown.append(f"{' → '.join(chain)} ⇢ {' → '.join(back[1:])}")
    assert cycles == [], "import cycles:\n" + "\n".join(shown)


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = grimp.ImportGraph()
    for module in ("canbao", "canbao.a", "canbao.b", "canbao.c"):
        graph.add_module(module)
    graph.add_import(importer="canbao.a", imported="canbao.b")
    graph.add_import(importer="canbao.b", imported="canbao.a")
    graph.add_import(importer="canbao.c", imported="canbao.a")
    assert _cycles(graph) == [["canbao.a", "canbao.b"]]


def test_no_module_is_over_800_lines() -> None:
    sizes = {p.relative_to(SRC): len(p.read_text(encoding="utf-8").splitlines()) for p in SRC.rglob("*.py")}
    assert {str(p): n for p, n in sizes.items() if n > MAX_LINES} == {}


@pytest.mark.parametrize("layer", CORE)
def test_the_core_does_not_import_a_front_end(graph: grimp.ImportGraph, layer: str) -> None:
    """Services are called by the CLI, the web and the payment API alike: no terminal, no OS login below."""
    modules = [layer, *graph.find_descendants(layer)] if layer in graph.modules else []
    wrong = {
        f"{module} imports {imported}"
        for module in modules
        for imported in graph.find_modules_directly_imported_by(module)
        if any(imported == banned or imported.startswith(f"{banned}.") for banned in FRONT_END_ONLY)
    }
    assert sorted(wrong) == []
