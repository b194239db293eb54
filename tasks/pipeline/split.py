"""The ``split`` stage of dvc.yaml."""

from __future__ import annotations

from pathlib import Path

from tasks.adapters import io
from tasks.config import Params
from tasks.pipeline.common import RunContext, Summary, load_schema, path_in


def split(root: Path, params: Params, context: RunContext) -> Summary:
    """Split the ingested table into train, validation and test files."""
    from tasks.steps.split import split_frame

    frame = io.read_frame(path_in(root, params.paths.ingested))
    parts = split_frame(frame, load_schema(root, params), params.split)
    paths = (params.paths.train, params.paths.valid, params.paths.test)
    for part, relative in zip(parts, paths, strict=True):
        io.write_frame(part, path_in(root, relative))
    return {"train": len(parts[0]), "valid": len(parts[1]), "test": len(parts[2])}
