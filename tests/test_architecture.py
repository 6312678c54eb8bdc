"""The layout's rules (docs/architecture.md): no import cycles between inspec's modules, and no
backend reading the syntax tree."""

import ast
from pathlib import Path

from tests.conftest import ROOT

PKG = ROOT / "inspec"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _graph() -> dict[str, set[str]]:
    """Module -> the inspec modules it imports when it is imported (top-level statements)."""
    modules = {_module_name(p): p for p in PKG.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps: set[str] = set()
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("inspec"):
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    deps.add(sub if sub in modules else node.module)
            elif isinstance(node, ast.Import):
                deps |= {a.name for a in node.names if a.name.startswith("inspec")}
        graph[name] = {d for d in deps if d in modules and d != name}
    return graph


def test_no_import_cycles():
    graph = _graph()
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                cycles.append([*stack[stack.index(dep) :], dep])
            elif dep not in state:
                visit(dep, stack)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    # a package's __init__ re-exporting its own modules is not a cycle of meaning
    cycles = [c for c in cycles if not all(m.startswith(c[0]) for m in c)]
    assert not cycles, cycles


def test_backends_read_only_the_ir():
    """No backend, nor the CLI or the API, imports the syntax tree (inspec.language); the CLI's fmt
    command calls the formatter, which takes text and gives text."""
    for path in [*(PKG / "backends").rglob("*.py"), PKG / "cli.py", PKG / "api.py"]:
        text = path.read_text()
        if path.name == "cli.py":
            text = text.replace("from inspec.language.fmt import", "")
        assert "inspec.language" not in text, path


def test_templates_live_in_the_package():
    templates = PKG / "backends" / "torch" / "templates"
    assert (templates / "module.py.j2").is_file()
    assert (ROOT / "templates").resolve() == templates
