"""No import circle anywhere in the project, and the packages depend one way: engine on nothing of ours, wavegen and
symbolic on engine only, never on each other (music_composer.py alone joins them), studio on the three and nothing on
studio."""
import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("engine", "wavegen", "symbolic", "studio")


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    files = [path for package in PACKAGES for path in (REPO / package).rglob("*.py")] + [REPO / "music_composer.py"]
    return {module_name(path): path for path in files}


def imported(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules ``name`` imports anywhere in its file (module level, in functions, for type checkers)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert not node.level, f"{path}:{node.lineno}: the project imports by absolute names only"
            base = node.module
            for alias in node.names:  # `from package import module` imports the module
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    return {module for module in found if module in modules and module != name}


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {name: imported(name, path, modules) for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as [a, b, ..., a], or None."""
    state: dict[str, str] = {}  # "open" while on the current path, "done" after

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = "open"
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                return path[path.index(target):] + [target]
            if target not in state and (cycle := visit(target, path + [target])):
                return cycle
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start, [start])):
            return cycle
    return None


def test_the_graph_sees_imports_of_every_kind():
    graph = import_graph()
    assert "symbolic.cli.common" in graph["symbolic.cli.generate"]  # module level
    assert "symbolic.train" in graph["symbolic.cli.training"]  # inside a function
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_no_module_imports_one_that_imports_it_back():
    assert find_cycle(import_graph()) is None


def test_packages_depend_one_way():
    for name, targets in import_graph().items():
        package = name.split(".")[0]
        others = {target.split(".")[0] for target in targets} - {package}
        allowed = {"engine": set(), "wavegen": {"engine"}, "symbolic": {"engine"},
                   "studio": {"engine", "wavegen", "symbolic"}}.get(package, set(PACKAGES))
        assert others <= allowed, f"{name} imports {sorted(others - allowed)}"
