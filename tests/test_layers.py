"""Imports point down the layers: a wrong-way import fails here, not in review."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

#: (package directory, module prefixes its files must never import).
RULES = [
    ("pymosaik", ("coalition", "organisms")),
    ("pymosaik/primitives", ("pymosaik.transport", "pymosaik.discovery", "pymosaik.streams")),
    ("pymosaik/discovery", ("pymosaik.streams", "pymosaik.groups", "pymosaik.collections")),
    ("coalition/framework", ("coalition.services", "coalition.runtime", "organisms")),
    ("coalition", ("organisms",)),
    ("coalition/services", ("coalition.runtime", "coalition.cli")),
]


def _imports(path: Path) -> list[str]:
    """Absolute module names imported by ``path`` (relative imports resolved)."""
    package = ".".join(path.relative_to(SRC).with_suffix("").parts[:-1])
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[: len(base) - node.level + 1]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            found.append(name)
            found += [f"{name}.{alias.name}" for alias in node.names]
    return found


@pytest.mark.parametrize(("package", "banned"), RULES, ids=[r[0] for r in RULES])
def test_imports_point_down(package: str, banned: tuple[str, ...]) -> None:
    wrong = [
        f"{path.relative_to(SRC)} imports {name}"
        for path in sorted((SRC / package).rglob("*.py"))
        for name in _imports(path)
        if any(name == b or name.startswith(b + ".") for b in banned)
    ]
    assert not wrong, "\n".join(wrong)
