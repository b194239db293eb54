"""Each dvc.yaml stage depends on exactly its own code: the import closure of its module.

A stage's module is ``tasks/pipeline/<stage>.py``; its closure is every module of this
project it imports, directly or through other modules, at module level or inside functions
(an import inside a function runs as surely as one at the top), leaving out imports that
exist only for the type checker. Editing any file of that closure must rerun the stage, so
``dvc repro`` and the training flow never reuse outputs made by other code.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("tasks", "flows", "serving", "cli")


def _type_checking_only(node: ast.If) -> bool:
    return "TYPE_CHECKING" in ast.unparse(node.test)


def imports_of(path: Path) -> set[str]:
    """The project modules ``path`` imports (dotted names), type-checking imports left out."""
    module = ".".join(path.relative_to(REPO).with_suffix("").parts)
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _type_checking_only(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = module.split(".")[: -node.level]
                base = ".".join([*parent, base] if base else parent)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return {name for name in found if name.split(".")[0] in PACKAGES and _file(name)}


def _file(dotted: str) -> Path | None:
    """The source file of a project module (None for a name that is not a module: a
    function or class imported with ``from x import y``)."""
    candidate = REPO.joinpath(*dotted.split("."))
    if candidate.with_suffix(".py").is_file():
        return candidate.with_suffix(".py")
    if (candidate / "__init__.py").is_file():
        return candidate / "__init__.py"
    return None


def closure(module: str) -> set[str]:
    """``module`` and every project module it reaches, as repo-relative file paths; empty
    package ``__init__.py`` files (they run no code) are left out."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        path = _file(name)
        assert path is not None, name
        todo.extend(imports_of(path) - seen)
    files = {_file(name) for name in seen}
    return {
        str(path.relative_to(REPO))
        for path in files
        if path is not None and (path.name != "__init__.py" or path.read_text().strip())
    }


def declared_code(stage: dict[str, object]) -> set[str]:
    """The Python files a dvc.yaml stage lists in its deps (a folder: every file in it)."""
    files: set[str] = set()
    for dep in stage.get("deps", []):  # type: ignore[attr-defined]
        path = REPO / str(dep)
        if path.is_dir():
            files.update(str(p.relative_to(REPO)) for p in path.rglob("*.py"))
        elif str(dep).endswith(".py"):
            files.add(str(dep))
    return files


def missing_and_stray(stage_name: str, stage: dict[str, object]) -> tuple[set[str], set[str]]:
    """What the stage's code deps leave out of its closure, and what they list beyond it."""
    needed = closure(f"tasks.pipeline.{stage_name}")
    declared = declared_code(stage)
    return needed - declared, declared - needed


def _stages() -> dict[str, dict[str, object]]:
    stages: dict[str, dict[str, object]] = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    return stages


@pytest.mark.parametrize("name", list(_stages()))
def test_each_stage_depends_on_exactly_its_own_code(name: str) -> None:
    missing, stray = missing_and_stray(name, _stages()[name])
    assert (sorted(missing), sorted(stray)) == ([], [])


def test_the_check_fails_when_a_stage_leaves_out_its_own_module() -> None:
    stage = dict(_stages()["train"])
    stage["deps"] = [d for d in stage["deps"] if d != "tasks/pipeline/train.py"]  # type: ignore[attr-defined]

    missing, stray = missing_and_stray("train", stage)

    assert (missing, stray) == ({"tasks/pipeline/train.py"}, set())


def test_the_check_fails_when_a_step_the_stage_imports_is_left_out() -> None:
    stage = dict(_stages()["validate"])
    stage["deps"] = [d for d in stage["deps"] if d != "tasks/steps/expectations.py"]  # type: ignore[attr-defined]

    missing, _ = missing_and_stray("validate", stage)

    assert missing == {"tasks/steps/expectations.py"}


def test_imports_inside_functions_count_and_type_checking_ones_do_not(tmp_path: Path) -> None:
    closure_of_validate = closure("tasks.pipeline.validate")
    # check_batch imports the Great Expectations adapter inside the function
    assert "tasks/adapters/validation.py" in closure_of_validate
    # tasks/pipeline/gate.py names ValidationReport for mypy only, and reaches
    # tasks/steps/validate.py anyway through a real import inside a function
    assert "tasks/steps/validate.py" in closure_of_validate
    assert "flows/training.py" not in closure_of_validate
