"""Models are loaded by our rules only (tasks/adapters/registry.load_checked): skops and the
reviewed types, whatever the model's MLmodel file says; no code paths; the model file's
sha256 must be the one recorded at registration. Real files, no MLflow server needed."""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import numpy as np
import pytest
import skops.io
import yaml
from sklearn.linear_model import LogisticRegression

from tasks.adapters.registry import ModelRefused, load_checked, model_file, reviewed_types


def _mlmodel(folder: Path, **sklearn: object) -> None:
    flavor = {"pickled_model": "model.skops", "serialization_format": "skops", "code": None}
    flavor.update(sklearn)
    (folder / "MLmodel").write_text(yaml.safe_dump({"flavors": {"sklearn": flavor}}))


def _saved(folder: Path) -> tuple[LogisticRegression, str]:
    folder.mkdir(parents=True, exist_ok=True)
    x = np.array([[0.0], [1.0], [2.0], [3.0]])
    model = LogisticRegression().fit(x, [0, 0, 1, 1])
    skops.io.dump(model, folder / "model.skops")
    _mlmodel(folder)
    return model, hashlib.sha256((folder / "model.skops").read_bytes()).hexdigest()


class _Planted:
    """Unpickling this writes a file: proof that the loader ran code from the model file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (Path.write_text, (self.marker, "ran"))  # type: ignore[return-value]


def test_a_skops_file_with_its_recorded_checksum_loads_and_predicts(tmp_path: Path) -> None:
    model, sha = _saved(tmp_path / "m")

    loaded = load_checked(tmp_path / "m", sha, "m v1")

    assert loaded.predict(np.array([[0.0], [3.0]])).tolist() == [0, 1]
    assert loaded.coef_.tolist() == model.coef_.tolist()


def test_a_pickled_model_is_refused_before_it_is_read(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    marker = tmp_path / "planted"
    (folder / "model.pkl").write_bytes(pickle.dumps(_Planted(marker)))
    _mlmodel(folder, pickled_model="model.pkl", serialization_format="cloudpickle")
    sha = hashlib.sha256((folder / "model.pkl").read_bytes()).hexdigest()

    with pytest.raises(ModelRefused) as refused:
        load_checked(folder, sha, "m v2")

    assert str(refused.value) == (
        f"{folder / 'MLmodel'}: serialization format 'cloudpickle'; only skops files are loaded "
        "(pickle and cloudpickle can run code when read)"
    )
    assert not marker.exists()


def test_code_paths_are_refused(tmp_path: Path) -> None:
    _, sha = _saved(tmp_path / "m")
    _mlmodel(tmp_path / "m", code="code")

    with pytest.raises(ModelRefused, match=r"code paths \['code'\]; a model may not bring code$"):
        load_checked(tmp_path / "m", sha, "m v1")


def test_a_model_file_changed_after_registration_is_refused(tmp_path: Path) -> None:
    _, sha = _saved(tmp_path / "m")
    other = LogisticRegression().fit(np.array([[0.0], [1.0]]), [1, 0])
    skops.io.dump(other, tmp_path / "m" / "model.skops")

    with pytest.raises(ModelRefused) as refused:
        load_checked(tmp_path / "m", sha, "m v1")

    found = hashlib.sha256((tmp_path / "m" / "model.skops").read_bytes()).hexdigest()
    assert str(refused.value) == (
        f"m v1: its model file changed after registration (sha256 {found[:12]}..., "
        f"recorded {sha[:12]}...): it is not loaded"
    )


def test_a_version_without_a_recorded_checksum_is_refused(tmp_path: Path) -> None:
    _saved(tmp_path / "m")

    with pytest.raises(ModelRefused, match=r"^m v1 records no model.sha256 "):
        load_checked(tmp_path / "m", None, "m v1")


def test_the_file_lists_trusted_types_but_only_ours_count(tmp_path: Path) -> None:
    """A skops file holding a type we never reviewed is refused even when its MLmodel trusts
    it (MLflow's loader would have taken the file's own list)."""
    import os

    from sklearn.preprocessing import FunctionTransformer

    folder = tmp_path / "m"
    folder.mkdir()
    skops.io.dump(FunctionTransformer(func=os.system), folder / "model.skops")
    _mlmodel(folder, skops_trusted_types=["posix.system"])
    sha = hashlib.sha256((folder / "model.skops").read_bytes()).hexdigest()

    assert "posix.system" not in reviewed_types()
    with pytest.raises(ModelRefused) as refused:
        load_checked(folder, sha, "m v1")
    assert str(refused.value) == (
        "m v1: skops refused it: Untrusted types found in the file: ['posix.system']."
    )


def test_a_model_file_outside_its_folder_is_refused(tmp_path: Path) -> None:
    _saved(tmp_path / "m")
    _mlmodel(tmp_path / "m", pickled_model="../elsewhere.skops")

    with pytest.raises(ModelRefused, match=r"model file '\.\./elsewhere\.skops' is not a file of"):
        model_file(tmp_path / "m")
