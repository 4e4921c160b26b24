"""The layer rule: a lower layer of advlab never imports a higher one (docs/architecture.md).

Every ``import advlab...`` statement in src/advlab (module level or inside a function) is
an edge; an edge from a module to a module of a higher layer fails the test.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "advlab"

#: lowest first; a module may import its own layer and the layers before it
LAYERS: list[tuple[str, ...]] = [
    ("errors", "provenance", "schema"),
    ("store", "seeding", "overrides", "tensorfile", "progress", "precision"),
    ("report",),
    ("data",),
    ("models",),
    ("attacks",),
    ("evaluate",),
    ("train",),
    ("features", "bayes", "theory"),
    ("experiments",),
    ("cli",),
    ("__init__", "__main__"),
]
RANK = {name: i for i, names in enumerate(LAYERS) for name in names}


def _unit(path: Path) -> str:
    """The top-level unit of a module: ``attacks`` for src/advlab/attacks/pgd.py."""
    rel = path.relative_to(SRC)
    return rel.parts[0].removesuffix(".py")


def _is_module(name: str) -> bool:
    return (SRC / f"{name}.py").is_file() or (SRC / name).is_dir()


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, imported advlab unit) of every advlab import in a file."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] if node.module != "advlab" else [
                f"advlab.{a.name}" if _is_module(a.name) else "advlab" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "advlab":
                out.append((node.lineno, parts[1] if len(parts) > 1 else "__init__"))
    return out


def upward_edges() -> list[str]:
    """Every import that runs from a lower layer to a higher one, as readable lines."""
    bad = []
    for path in sorted(SRC.rglob("*.py")):
        unit = _unit(path)
        for line, target in _imports(path):
            if target == unit:
                continue
            if target not in RANK or unit not in RANK:
                bad.append(f"{path.relative_to(SRC)}:{line}: {unit} -> {target} (unit not in LAYERS)")
            elif RANK[target] > RANK[unit]:
                bad.append(f"{path.relative_to(SRC)}:{line}: {unit} -> {target} (upward)")
    return bad


def test_every_unit_has_a_layer() -> None:
    units = {_unit(p) for p in SRC.rglob("*.py")}
    assert units <= set(RANK), f"add to LAYERS: {sorted(units - set(RANK))}"


def test_no_import_runs_upward() -> None:
    bad = upward_edges()
    assert not bad, "imports that run upward:\n" + "\n".join(bad)


def test_the_check_catches_an_upward_edge(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "advlab"
    (fake / "data").mkdir(parents=True)
    (fake / "data" / "x.py").write_text("from advlab.experiments import engine\n")
    monkeypatch.setattr(__import__(__name__), "SRC", fake)
    assert upward_edges() == ["data/x.py:1: data -> experiments (upward)"]
