"""arlm's import graph: no cycles, lower layers never import higher ones, and the heavy services
(Prefect, Ray, MLflow) are imported only where docs/architecture.md ("Layers") says.

The graph is read with ``ast`` from every file under arlm/ and flows/, without importing anything.
Imports inside functions count like module-level ones: deferring an import keeps start-up fast, it
does not make an upward dependency or a cycle acceptable (the function still needs the higher
module, and the two modules can no longer be understood or tested apart). Imports under
``if TYPE_CHECKING:`` never run: they count for the layers (an upward type is still a dependency)
but not for cycles or for what a module loads. Names a package exports lazily (``arlm.lazy``,
``importlib.import_module``) are not visible here; the modules that define them are checked.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FLOWS = "arlm_flows"  # flows/ is installed as arlm_flows (pyproject's package-dir)
FLOWS_ALIASES = ("flows",)  # ...and is importable as `flows` from a checkout's root

# Lowest first: a module may import modules of its own layer and of the layers below it. A module
# belongs to the layer of the longest name listed that is it or a package holding it, so a module
# can sit apart from its package, with the reason beside it. `arlm` stands for arlm/__init__.py only.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "foundation",
        (
            "arlm",
            "arlm.errors",
            "arlm.defaults",
            "arlm.lazy",
            "arlm.home",
            "arlm.versioning",
            "arlm.options",
            "arlm.infra.procs",  # process utilities (psutil): the tracker and the Ray launcher use them
            "arlm.evaluation.checks",
        ),
    ),  # finite-metric checks (standard library): the catalog uses them
    ("data", ("arlm.data", "arlm.tokenizers", "arlm.catalog")),
    ("models", ("arlm.models",)),
    ("generation", ("arlm.generation",)),
    ("evaluation", ("arlm.evaluation",)),
    ("training", ("arlm.training", "arlm.hf", "arlm.translation")),
    ("registry", ("arlm.registry",)),
    (
        "stages",
        (
            "arlm.stages",
            "arlm.hf.stages",  # import, export and fine-tune as stages
            "arlm.translation.data_stages",  # pairs -> lake -> tokenizer(s) -> pair tokens
            "arlm.translation.model_stages",  # evaluate (BLEU) and register a translator
            "arlm.catalog.rebuild",
        ),
    ),  # rebuilds the catalog from what every stage left, MLflow's registry too
    ("infra", ("arlm.infra",)),
    ("flows", (FLOWS,)),
    ("cli", ("arlm.cli", "arlm.infra.__main__")),  # `python -m arlm.infra`: a command line of its own
)

# Where each service may be imported at all (module or package prefixes; flows/ may import Prefect).
SERVICE_USERS = {
    "prefect": ("arlm.infra", "arlm.cli", FLOWS),
    "ray": ("arlm.data.parallel", "arlm.tokenizers.parallel", "arlm.training.ray_launcher"),
    "mlflow": (
        "arlm.registry",
        "arlm.training.tracking",
        "arlm.stages",
        "arlm.hf.stages",
        "arlm.translation.model_stages",
    ),
}
# Inside arlm/ they are imported inside functions (`import arlm.x` stays cheap), with one exception:
MODULE_LEVEL_SERVICE_OK = {("arlm.registry.pyfunc_model", "mlflow")}  # the file MLflow itself executes

# The training core runs on a bare GPU image (torch, numpy, safetensors): importing any of these
# modules must not import a service, directly or through the arlm modules it imports at module level
# (tests/training/test_core_without_services.py checks the same by running it).
CORE = (
    "arlm.models",
    "arlm.generation",
    "arlm.training.loop",
    "arlm.training.checkpoint",
    "arlm.training.sampler",
    "arlm.training.schedule",
    "arlm.training.optim",
    "arlm.training.config",
    "arlm.tokenizers.dataset",
)
NOT_IN_CORE = ("prefect", "ray", "mlflow", "duckdb", "pydantic")


@dataclass(frozen=True)
class Import:
    importer: str
    target: str  # an arlm/flows module when known, else the imported name
    where: str  # file:line
    module_level: bool
    typing_only: bool


def _discover() -> dict[str, tuple[Path, bool]]:
    """module name -> (file, is a package's __init__) for every module of arlm/ and flows/."""
    out = {}
    for folder, package in (("arlm", "arlm"), ("flows", FLOWS)):
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            is_pkg = parts[-1] == "__init__"
            name = ".".join([package, *(parts[:-1] if is_pkg else parts)])
            out[name] = (path, is_pkg)
    return out


MODULES = _discover()


def _canonical(name: str) -> str:
    head, _, rest = name.partition(".")
    return ".".join(filter(None, (FLOWS, rest))) if head in FLOWS_ALIASES else name


def _known(name: str) -> str:
    """The deepest module of ours that ``name`` is or lies in (``arlm.x.y.Class`` -> ``arlm.x.y``)."""
    name = _canonical(name)
    probe = name
    while probe not in MODULES and "." in probe:
        probe = probe.rsplit(".", 1)[0]
    return probe if probe in MODULES else name


class _Collector(ast.NodeVisitor):
    def __init__(self, module: str, path: Path, is_pkg: bool) -> None:
        self.module, self.path, self.is_pkg = module, path, is_pkg
        self.depth = 0  # functions around the current node
        self.typing = 0  # `if TYPE_CHECKING:` blocks around it
        self.found: list[Import] = []

    def _add(self, node: ast.AST, target: str) -> None:
        self.found.append(
            Import(
                self.module,
                _known(target),
                f"{self.path.relative_to(ROOT)}:{node.lineno}",
                self.depth == 0,
                self.typing > 0,
            )
        )

    def _function(self, node: ast.AST) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function

    def visit_If(self, node: ast.If) -> None:
        test = ast.unparse(node.test)
        if test in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            self.typing += 1
            for child in node.body:
                self.visit(child)
            self.typing -= 1
            for child in node.orelse:
                self.visit(child)
        else:
            self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(node, alias.name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            base = self.module.split(".")[: None if self.is_pkg else -1]
            base = base[: len(base) - node.level + 1]
            prefix = ".".join(base + ([node.module] if node.module else []))
        else:
            prefix = node.module or ""
        for alias in node.names:  # `from pkg import submodule` imports the submodule
            sub = _canonical(f"{prefix}.{alias.name}")
            self._add(node, sub if sub in MODULES else prefix)


def _imports() -> list[Import]:
    out = []
    for name, (path, is_pkg) in MODULES.items():
        collector = _Collector(name, path, is_pkg)
        collector.visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
        out += collector.found
    return out


IMPORTS = _imports()


def _runs(imp: Import) -> list[str]:
    """Our modules an import executes: the target and the packages above it (not the importer's own,
    which are already being imported)."""
    if imp.target not in MODULES:
        return []
    parts = imp.target.split(".")
    out = [".".join(parts[:k]) for k in range(1, len(parts) + 1)]
    return [m for m in out if m in MODULES and m != imp.importer and not imp.importer.startswith(m + ".")]


def layer_of(module: str) -> int | None:
    best: tuple[int, int] | None = None  # (length of the matching name, layer index)
    for index, (_, names) in enumerate(LAYERS):
        for name in names:
            hit = module == name if name == "arlm" else module == name or module.startswith(name + ".")
            if hit and (best is None or len(name) > best[0]):
                best = (len(name), index)
    return None if best is None else best[1]


def _prefixed(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def test_every_module_has_a_layer() -> None:
    missing = sorted(m for m in MODULES if layer_of(m) is None)
    assert not missing, (
        "modules in no layer; add them (or their package) to LAYERS in "
        f"tests/unit/test_layers.py and docs/architecture.md: {missing}"
    )


def test_no_import_cycles() -> None:
    graph: dict[str, dict[str, str]] = {m: {} for m in MODULES}  # importer -> {imported: file:line}
    for imp in IMPORTS:
        if not imp.typing_only:
            for target in _runs(imp):
                graph[imp.importer].setdefault(target, imp.where)
    cycles = []
    for component in _strongly_connected(graph):
        cycle = _a_cycle(graph, component)
        cycles.append("\n".join(f"  {a} -> {b}   ({graph[a][b]})" for a, b in zip(cycle, cycle[1:] + cycle[:1])))
    assert not cycles, "import cycles (each line: importer -> imported, where):\n" + "\n\n".join(cycles)


def test_lower_layers_never_import_higher_ones() -> None:
    bad = []
    for imp in IMPORTS:
        if imp.target not in MODULES:
            continue
        low, high = layer_of(imp.importer), layer_of(imp.target)
        if low is not None and high is not None and high > low:
            bad.append(
                f"{imp.where}: {imp.importer} ({LAYERS[low][0]}) imports {imp.target} "
                f"({LAYERS[high][0]}, a higher layer)"
            )
    assert not bad, (
        "upward imports (layers, lowest first: "
        + " < ".join(n for n, _ in LAYERS)
        + "):\n"
        + "\n".join(sorted(set(bad)))
    )


def test_services_are_imported_only_where_the_docs_say() -> None:
    bad = []
    for imp in IMPORTS:
        service = imp.target.split(".")[0]
        if service not in SERVICE_USERS:
            continue
        if not _prefixed(imp.importer, SERVICE_USERS[service]):
            bad.append(
                f"{imp.where}: {imp.importer} imports {imp.target}; only {', '.join(SERVICE_USERS[service])} may"
            )
        elif (
            imp.module_level
            and not imp.typing_only
            and imp.importer.startswith("arlm.")
            and (imp.importer, service) not in MODULE_LEVEL_SERVICE_OK
        ):
            bad.append(
                f"{imp.where}: {imp.importer} imports {imp.target} at module level; import it "
                "inside the function that needs it"
            )
    assert not bad, "\n".join(bad)


def test_the_training_core_loads_no_service() -> None:
    by_importer: dict[str, list[Import]] = {}
    for imp in IMPORTS:
        if imp.module_level and not imp.typing_only:
            by_importer.setdefault(imp.importer, []).append(imp)
    bad = []
    for root in (m for m in MODULES if _prefixed(m, CORE)):
        chain = {root: [root]}  # module -> how root reaches it at import time
        todo = [root]
        while todo:
            module = todo.pop()
            for imp in by_importer.get(module, []):
                if imp.target.split(".")[0] in NOT_IN_CORE:
                    bad.append(f"{imp.where}: importing {root} imports {imp.target} (via {' -> '.join(chain[module])})")
                for nxt in _runs(imp):
                    if nxt not in chain:
                        chain[nxt] = chain[module] + [nxt]
                        todo.append(nxt)
    assert not bad, "\n".join(sorted(set(bad)))


def test_the_checker_sees_what_it_must() -> None:
    """The parser itself: function-level, relative and TYPE_CHECKING imports are all found."""
    found = {(i.importer, i.target): i for i in IMPORTS}
    loop_to_eval = next(
        i for (a, b), i in found.items() if a == "arlm.training.loop" and b.startswith("arlm.evaluation")
    )
    assert not loop_to_eval.module_level
    assert found[("arlm.training.loop", "arlm.tokenizers")].typing_only
    assert layer_of("arlm") == 0 and layer_of("arlm.catalog.rebuild") > layer_of("arlm.registry.gate")
    assert layer_of("arlm.no_such_package") is None


def _strongly_connected(graph: dict[str, dict[str, str]]) -> list[list[str]]:
    """Components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(graph[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph[child])))
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
                    out.append(sorted(component))
    return out


def _a_cycle(graph: dict[str, dict[str, str]], component: list[str]) -> list[str]:
    """One cycle through the component's first module (breadth-first, so a shortest one)."""
    inside = set(component)
    start = component[0]
    paths = {start: [start]}
    todo = [start]
    while todo:
        node = todo.pop(0)
        for nxt in graph[node]:
            if nxt == start:
                return paths[node]
            if nxt in inside and nxt not in paths:
                paths[nxt] = paths[node] + [nxt]
                todo.append(nxt)
    raise AssertionError(f"no cycle in {component}")  # pragma: no cover - a component has one


if __name__ == "__main__":  # pragma: no cover - `python tests/unit/test_layers.py` prints the layers
    for i, (layer, _) in enumerate(LAYERS):
        print(f"{i} {layer}: {', '.join(sorted(m for m in MODULES if layer_of(m) == i))}")
    pytest.main([__file__, "-q"])
