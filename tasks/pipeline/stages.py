"""The pipeline's stages, one module each in tasks/pipeline/, and the command dvc.yaml runs.

``dvc.yaml`` runs each stage as ``python -m tasks.pipeline.stages NAME``; the Prefect training
flow calls the same functions in-process. Either way a stage reads its deps and writes its
outs at the paths in ``params.paths``, so ``dvc repro`` and the flow produce the same files.
A stage's module is imported only when it runs: each stage's dvc.yaml deps are its own
module's import closure (tests/unit/test_dvc_deps.py), not every stage's.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from tasks.config import Params, load_params
from tasks.pipeline.common import RunContext, Summary

Stage = Callable[[Path, Params, RunContext], Summary]
NAMES = ("validate", "ingest", "split", "train", "evaluate", "register", "promote")


class _Stages(Mapping[str, Stage]):
    """Stage name -> its function (``tasks.pipeline.<name>.<name>``), imported on first use."""

    def __getitem__(self, name: str) -> Stage:
        if name not in NAMES:
            raise KeyError(name)
        stage: Stage = getattr(importlib.import_module(f"tasks.pipeline.{name}"), name)
        return stage

    def __iter__(self) -> Iterator[str]:
        return iter(NAMES)

    def __len__(self) -> int:
        return len(NAMES)


STAGES: Mapping[str, Stage] = _Stages()


def main(argv: list[str]) -> int:
    """``python -m tasks.pipeline.stages NAME``: run one stage, as ``dvc repro`` does."""
    from tasks.runtime import apply_defaults, project_root

    apply_defaults()
    if len(argv) != 1 or argv[0] not in STAGES:
        print(f"usage: python -m tasks.pipeline.stages {{{'|'.join(STAGES)}}}", file=sys.stderr)
        return 2
    root = project_root()
    params = load_params(root / "params.yaml")
    try:
        summary = STAGES[argv[0]](root, params, RunContext())
    except ValueError as error:  # our steps raise ValueError subclasses with clear messages
        print(f"stage {argv[0]} failed: {error}", file=sys.stderr)
        return 1
    print(f"stage {argv[0]}: {summary}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
