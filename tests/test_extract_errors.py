"""The extract package's errors belong to the one error model, and its modules import one way."""

from __future__ import annotations

import ast
import threading
from pathlib import Path

import pytest

from extractcraft import render, write
from iplos_tui.core import errors
from iplos_tui.core.exitcodes import ExitCode
from iplos_tui.core.extract.base import ExtractError
from iplos_tui.core.extract.validate import validate_file

PACKAGE = Path(__file__).resolve().parent.parent / "iplos_tui" / "core" / "extract"


def import_graph(package: Path) -> dict[str, set[str]]:
    """module -> the modules of the same package it imports, at the top or inside a function."""
    prefix = "iplos_tui.core.extract."
    graph: dict[str, set[str]] = {}
    for path in sorted(package.glob("*.py")):
        name = path.stem
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(prefix):
                targets.add(node.module.removeprefix(prefix).split(".")[0])
            elif isinstance(node, ast.Import):
                targets.update(a.name.removeprefix(prefix).split(".")[0] for a in node.names if a.name.startswith(prefix))
        graph[name] = targets - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        for target in sorted(graph.get(node, ())):
            if target in path:
                found.append(path[path.index(target):] + [target])
            elif target in graph:
                visit(target, path + [target])

    for start in sorted(graph):
        visit(start, [start])
    return found


def test_the_extract_modules_import_one_way():
    graph = import_graph(PACKAGE)
    assert {"importer", "uttrekk_v1", "base", "validate", "rules"} <= set(graph)
    assert cycles(graph) == []


def test_extract_error_is_an_iplos_error():
    error = ExtractError("Filen er avkortet.", 12, rule="file.truncated")
    assert isinstance(error, errors.IplosError)
    assert error.exit_code == ExitCode.USAGE
    assert error.message() == str(error) == "Linje 12: Filen er avkortet."
    assert error.reason == "Filen er avkortet." and error.rule == "file.truncated"
    from iplos_tui.core.extract.importer import ExtractError as reexported

    assert reexported is ExtractError


def test_cancel_raises_the_one_cancelled(tmp_path):
    path = write(tmp_path / "x.xml", render())
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(errors.Cancelled):
        validate_file(path, cancel=cancel)
