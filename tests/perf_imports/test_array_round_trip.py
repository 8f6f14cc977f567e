"""A large numpy array from one step to the next: written once where it lands, read back
without a copy, and handed to the next step as an ordinary, writable array."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from zenml_kf import BaseStepConfig, Output, Repository, pipeline, step
from zenml_kf.artifact_stores.manifest import MARKER
from zenml_kf.materializers.numpy_materializer import NumpyMaterializer

N = 2_000_000  # float64: 16 MB, far above the size from which arrays are mapped


class Size(BaseStepConfig):
    n: int = N


@step
def make(config: Size) -> np.ndarray:
    return np.arange(config.n, dtype=np.float64)


@step
def scale_in_place(x: np.ndarray) -> Output(kind=str, writable=bool, total=float):  # type: ignore[valid-type]
    kind = type(x).__name__
    writable = bool(x.flags.writeable)
    x *= 2  # a user may change an input in place, as with any array
    return kind, writable, float(x.sum())


@pipeline(enable_cache=False)
def round_trip(make: Any, scale_in_place: Any) -> None:
    scale_in_place(make())


def _io(field: str) -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        key, _, value = line.partition(":")
        if key == field:
            return int(value)
    raise AssertionError(field)


def _npy_header_length(file: Path) -> int:
    with file.open("rb") as f:
        fmt = np.lib.format
        version = fmt.read_magic(f)
        (fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0)(f)
        return f.tell()


def test_next_step_gets_a_plain_writable_array_and_the_artifact_stays_intact(repo: Repository) -> None:
    run = round_trip(make=make(), scale_in_place=scale_in_place()).run()  # type: ignore[attr-defined]
    outputs = run.get_step("scale_in_place").outputs
    assert outputs["kind"].read() == "ndarray"
    assert outputs["writable"].read() is True
    assert outputs["total"].read() == float(np.arange(N, dtype=np.float64).sum() * 2)
    # The in-place change stayed in the step: the producer's artifact reads as written.
    again = run.get_step("make").output.read()
    assert type(again) is np.ndarray and again.flags.writeable
    assert np.array_equal(again, np.arange(N, dtype=np.float64))


def test_the_npy_is_written_once_where_it_lands(repo: Repository) -> None:
    # A first, tiny run creates the metadata store's schema, which is not what is measured.
    round_trip(make=make(config=Size(n=10)), scale_in_place=scale_in_place()).run()  # type: ignore[attr-defined]
    pipe = round_trip(make=make(), scale_in_place=scale_in_place())
    pipe.graph  # noqa: B018 - build the graph before counting bytes
    written_before = _io("wchar")
    run = pipe.run()  # type: ignore[attr-defined]
    written = _io("wchar") - written_before
    uri = Path(run.get_step("make").output.uri)
    files = sorted(p.name for p in uri.iterdir())
    assert files == ["data.npy", MARKER]
    npy = uri / "data.npy"
    nbytes = N * 8
    assert npy.stat().st_size == nbytes + _npy_header_length(npy)
    # No staging folder or temporary copy is left next to the artifact.
    assert sorted(p.name for p in uri.parent.iterdir()) == ["output"]
    # One copy of the array went through write(): no temp file, no second copy into the
    # store. The rest (about 1 MB) is the metadata store's journal, the marker and the log.
    assert nbytes <= written < nbytes * 1.25, f"{written - nbytes} bytes written besides the array"


def test_a_large_array_is_read_without_copying_its_bytes(tmp_path: Path) -> None:
    data = np.random.default_rng(0).random(N)
    materializer = NumpyMaterializer()
    materializer.save(data, tmp_path)
    read_before = _io("rchar")
    loaded = materializer.load(tmp_path, np.ndarray)
    assert _io("rchar") - read_before < 2**16  # the header only; the data is mapped
    assert type(loaded) is np.ndarray and loaded.flags.writeable
    assert np.array_equal(loaded, data)
    loaded[:] = 0.0  # private pages: the file keeps what was saved
    assert np.array_equal(materializer.load(tmp_path, np.ndarray), data)


def test_small_arrays_and_every_layout_read_back_equal(tmp_path: Path) -> None:
    cases: dict[str, np.ndarray[Any, Any]] = {
        "empty": np.zeros((0,)),
        "small": np.arange(10, dtype=np.int32),
        "fortran": np.asfortranarray(np.arange(400_000, dtype=np.float64).reshape(800, 500)),
        "strided": np.arange(600_000, dtype=np.float64)[::2],
        "strings": np.array(["a", "bc"] * 100_000),
    }
    materializer = NumpyMaterializer()
    for name, value in cases.items():
        folder = tmp_path / name
        folder.mkdir()
        materializer.save(value, folder)
        loaded = materializer.load(folder, np.ndarray)
        assert type(loaded) is np.ndarray, name
        assert loaded.dtype == value.dtype and loaded.shape == value.shape, name
        assert np.array_equal(loaded, value), name
        assert loaded.flags.writeable, name
    assert os.listdir(tmp_path / "fortran") == ["data.npy"]
