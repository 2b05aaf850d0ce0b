"""The capture writer: blocks in any order and size give exactly the array, in the array's dtype,
and the build state only ever names batches whose rows are in the file."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from attentionviz.store import names
from attentionviz.store.arrays import ArraySpec
from attentionviz.store.atomic import read_json
from attentionviz.store.writer import CaptureWriter

N_TOKENS = 20000
SPECS = {
    "layers.0.q": ArraySpec((3, N_TOKENS, 16), "float16"),
    "layers.0.k": ArraySpec((1, N_TOKENS, 16), "bfloat16"),  # stored as uint16 bit patterns
    "layers.0.v_norm": ArraySpec((2, N_TOKENS), "float32"),
    "layers.0.aggregate": ArraySpec((3, 5, 5), "float32"),  # written whole, at the end
}
STREAMED = [name for name in SPECS if not name.endswith("aggregate")]


def _batches(rng: np.random.Generator) -> list[slice]:
    """Token row ranges of batches of random sizes (some a single row)."""
    cuts = np.unique(np.r_[0, 1, rng.choice(np.arange(2, N_TOKENS), 40, replace=False), N_TOKENS])
    return [slice(int(a), int(b)) for a, b in itertools.pairwise(cuts)]


def _expected(rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {
        name: rng.standard_normal(SPECS[name].shape).astype(np.float32).astype(SPECS[name].stored)
        for name in STREAMED
    }


def _write(writer: CaptureWriter, expected: dict[str, np.ndarray], rows: slice) -> None:
    for name, array in expected.items():
        block = writer.empty_block(name, rows.start, rows.stop - rows.start)
        block[...] = array[:, rows]
        writer.write_block(name, block, rows.start)


def _on_disk(staging: Path, name: str) -> np.ndarray:
    return np.load(names.array_path(staging, name), mmap_mode="r")


def test_blocks_in_any_order_and_size_give_exactly_the_array(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    expected, batches = _expected(rng), _batches(rng)
    writer = CaptureWriter(tmp_path, SPECS, state_key="k")
    for batch_id in rng.permutation(len(batches)):
        _write(writer, expected, batches[batch_id])
        writer.mark_done(int(batch_id))
    aggregate = rng.random((3, 5, 5)).astype(np.float32)
    writer.write_whole("layers.0.aggregate", aggregate)
    writer.sync()
    described = writer.checksums()
    writer.close()
    for name, array in expected.items():
        on_disk = _on_disk(tmp_path, name)
        assert on_disk.dtype == SPECS[name].stored
        np.testing.assert_array_equal(on_disk, array)
    np.testing.assert_array_equal(_on_disk(tmp_path, "layers.0.aggregate"), aggregate)
    assert {name: d["dtype"] for name, d in described.items()} == {n: s.dtype for n, s in SPECS.items()}
    assert read_json(tmp_path / names.BUILD_STATE)["done"] == list(range(len(batches)))


def test_an_abandoned_build_resumes_from_the_batches_it_recorded(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    expected, batches = _expected(rng), _batches(rng)
    order = list(reversed(range(len(batches))))  # the capture's order: longest (last) batches first
    writer = CaptureWriter(tmp_path, SPECS, state_key="k", n_batches=len(batches))
    for batch_id in order[:25]:
        _write(writer, expected, batches[batch_id])
        writer.mark_done(batch_id)
    writer.close()  # as if killed
    done = read_json(tmp_path / names.BUILD_STATE)["done"]
    assert sorted(done) == sorted(order[:25])
    for batch_id in done:  # a batch on record is in the file
        for name, array in expected.items():
            rows = batches[batch_id]
            np.testing.assert_array_equal(_on_disk(tmp_path, name)[:, rows], array[:, rows], err_msg=name)

    resumed = CaptureWriter(tmp_path, SPECS, state_key="k", n_batches=len(batches))
    assert resumed.done == frozenset(done)
    for batch_id in order:
        if batch_id not in resumed.done:
            _write(resumed, expected, batches[batch_id])
            resumed.mark_done(batch_id)
    resumed.sync()
    resumed.close()
    for name, array in expected.items():
        np.testing.assert_array_equal(_on_disk(tmp_path, name), array)


def test_another_build_key_or_dtype_starts_over(tmp_path: Path) -> None:
    writer = CaptureWriter(tmp_path, SPECS, state_key="one")
    writer.mark_done(0)
    writer.sync()
    writer.close()
    assert CaptureWriter(tmp_path, SPECS, state_key="two").done == frozenset()
    other = {**SPECS, "layers.0.q": ArraySpec((3, N_TOKENS, 16), "float32")}
    CaptureWriter(tmp_path, SPECS, state_key="one").mark_done(0)
    assert CaptureWriter(tmp_path, other, state_key="one").done == frozenset(), (
        "a float32 build reuses no float16 file"
    )


def test_a_whole_array_of_the_wrong_shape_is_refused(tmp_path: Path) -> None:
    writer = CaptureWriter(tmp_path, SPECS, state_key="k")
    with pytest.raises(ValueError, match="not"):
        writer.write_whole("layers.0.aggregate", np.zeros((3, 4, 4), np.float32))
    writer.close()
