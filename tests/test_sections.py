"""The module reads top to bottom: code in one section uses no top-level name of a later section.

One module stands in for a package here, so this test stands in for its import graph. A section
starts at a line `# ----... <name>`; a top-level name belongs to the section it is defined in.
Annotations are left aside: they are strings under `from __future__ import annotations`."""

from __future__ import annotations

import ast
import re
from pathlib import Path

SOURCE = Path(__file__).resolve().parent.parent / "codecommit_backup.py"
MARKER = re.compile(r"^# -{5,} (?P<name>.+)$", re.MULTILINE)


def annotation_nodes(tree: ast.AST) -> set[int]:
    found: set[int] = set()
    for node in ast.walk(tree):
        hints: list[ast.expr | None] = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            arguments = node.args
            every = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs, arguments.vararg, arguments.kwarg]
            hints += [argument.annotation for argument in every if argument is not None] + [node.returns]
        elif isinstance(node, ast.AnnAssign):
            hints.append(node.annotation)
        found |= {id(part) for hint in hints if hint is not None for part in ast.walk(hint)}
    return found


def test_no_section_uses_a_later_one() -> None:
    text = SOURCE.read_text()
    starts = [(text.count("\n", 0, match.start()) + 1, match["name"]) for match in MARKER.finditer(text)]
    assert len(starts) > 10, "the module's section markers are gone"

    def section(line: int) -> int:
        return max(index for index, (start, _) in enumerate(starts) if start <= line or index == 0)

    tree = ast.parse(text)
    home: dict[str, int] = {}
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        names = [getattr(node, "name", None)] + [t.id for t in targets if isinstance(t, ast.Name)]
        home.update({name: section(node.lineno) for name in names if name and name not in home})
    skip = annotation_nodes(tree)
    reaches = sorted(
        {
            f"{starts[section(node.lineno)][1]} uses {used.id} of {starts[home[used.id]][1]} (line {used.lineno})"
            for node in tree.body
            for used in ast.walk(node)
            if isinstance(used, ast.Name) and id(used) not in skip and home.get(used.id, -1) > section(node.lineno)
        }
    )
    assert reaches == []


def test_the_public_surface_names_only_what_the_module_defines() -> None:
    import codecommit_backup

    assert "main" in codecommit_backup.__all__
    assert [name for name in codecommit_backup.__all__ if not hasattr(codecommit_backup, name)] == []
