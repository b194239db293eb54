"""``mlops reproduce VERSION``: retrain a registered version from its recorded inputs.

The data comes back through DVC by its content hash, the params are the exact params.yaml the
run logged, the expectation suite is the one in git at the run's commit. The pipeline's stages
run in a scratch project with the code of today, and the metrics are compared with the ones
the version was registered with.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tasks.adapters import io, registry, tracking, versioning
from tasks.config import ConfigError, load_params


class ReproduceError(ValueError):
    """A version that cannot be reproduced (its inputs were not recorded or are gone)."""


@dataclass(frozen=True)
class Reproduction:
    """Registered and reproduced metrics side by side."""

    metrics: dict[str, tuple[float, float]]
    notes: list[str]

    @property
    def largest_difference(self) -> float:
        gaps = [
            abs(new - old)
            for old, new in self.metrics.values()
            if math.isfinite(old) and math.isfinite(new)
        ]
        return max(gaps, default=0.0)

    @property
    def identical(self) -> bool:
        return self.largest_difference == 0.0


REBUILT = ("validate", "ingest", "split", "train", "evaluate")
UNKNOWN_COMMIT = "unknown"  # what the register stage records outside git


def recorded_inputs(info: registry.VersionInfo) -> tuple[str, str, str]:
    """(data md5, data path, git commit) from the version's run tags, refused unless the md5 is
    32 hex digits and the commit 40 (or ``unknown``): they name a file and a git revision, and
    whoever can write the run's tags chooses them."""
    from tasks.adapters.versioning import is_commit, is_md5

    tags, what = info.run_tags, f"{info.model_name} version {info.version} (run {info.run_id})"
    md5, data_path = tags.get("data.dvc_md5"), tags.get("data.path")
    commit = tags.get("git.commit", UNKNOWN_COMMIT)
    if not md5 or not data_path:
        raise ReproduceError(f"{what}: its run recorded no data version")
    if not is_md5(md5):
        raise ReproduceError(f"{what}: tag data.dvc_md5 is {md5!r}, not a DVC md5 (32 hex digits)")
    if commit != UNKNOWN_COMMIT and not is_commit(commit):
        raise ReproduceError(
            f"{what}: tag git.commit is {commit!r}, not a git commit id (40 hex digits)"
        )
    return md5, data_path, commit


def reproduce_version(root: Path, name: str, version: str) -> Reproduction:
    """Rebuild ``version`` of ``name`` in a scratch project and compare its metrics."""
    from tasks.pipeline.common import RunContext
    from tasks.pipeline.gate import suite_path
    from tasks.pipeline.stages import STAGES

    info = registry.version_info(name, version)
    md5, data_path, commit = recorded_inputs(info)
    notes = []
    with tempfile.TemporaryDirectory(prefix=f"reproduce-v{version}-") as scratch:
        work = Path(scratch)
        try:
            fetched = tracking.download_artifact(
                info.run_id, "config/params.yaml", work / "downloaded"
            )
        except Exception as error:  # MLflow raises several types for a missing artifact
            raise ReproduceError(
                f"{name} version {version}: run {info.run_id} has no config/params.yaml "
                f"artifact (registered before params were recorded): {error}"
            ) from None
        Path(fetched).rename(work / "params.yaml")
        try:  # its paths must stay inside the scratch project, as any params file's
            recorded = load_params(work / "params.yaml")
        except ConfigError as error:
            raise ReproduceError(
                f"{name} version {version}: the params its run {info.run_id} recorded are "
                f"refused:\n{error}"
            ) from None
        source = versioning.fetch_data_version(root, md5, work / recorded.ingest.path)
        notes.append(f"data: {data_path} md5 {md5} from the {source}")
        suite = suite_path(root, recorded).relative_to(root).as_posix()
        at_commit = versioning.git_show(root, commit, suite) if commit != UNKNOWN_COMMIT else None
        target = work / suite
        target.parent.mkdir(parents=True, exist_ok=True)
        if at_commit is not None:
            target.write_bytes(at_commit)
            notes.append(f"suite: {suite} as of commit {commit[:12]}")
        else:
            target.write_bytes((root / suite).read_bytes())
            notes.append(f"suite: {suite} from the work tree (not in git at {commit[:12]})")
        current = versioning.git_commit(root)
        if current != commit:
            notes.append(
                f"code: today's ({current[:12]}), the version was trained at {commit[:12]}; "
                "a code change can change the metrics"
            )
        context = RunContext(trigger="reproduce", orchestrator="reproduce")
        for stage in REBUILT:
            STAGES[stage](work, recorded, context)
        rebuilt = io.read_json(work / recorded.paths.metrics)
    metrics = {}
    for split_name in ("valid", "test"):
        for metric, value in rebuilt[split_name].items():
            key = f"{split_name}_{metric}"
            if key in info.metrics:
                metrics[key] = (float(info.metrics[key]), float(value))
    if not metrics:
        raise ReproduceError(f"{name} version {version}: its run has no metrics to compare")
    return Reproduction(metrics, notes)
