"""The capture writer: blocks in any order and size give exactly the array, and the build state
only ever names batches whose rows are really in the file (with direct I/O and without)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from attentionviz.store import names
from attentionviz.store.atomic import read_json
from attentionviz.store.direct import direct_io_works
from attentionviz.store.write_behind import WriteBehind
from attentionviz.store.writer import CaptureWriter

N_TOKENS, N_PAIRS = 20000, 100003
SHAPES = {
    "layers.0.q": (3, N_TOKENS, 16),  # 64-byte rows: blocks start and end inside sectors
    "layers.0.v_norm": (2, N_TOKENS),  # 4-byte rows: small blocks share sectors with several others
    "layers.0.attention": (3, N_PAIRS),
}


@pytest.fixture(params=[True, False], ids=["direct", "buffered"])
def direct(request: pytest.FixtureRequest, tmp_path: Path) -> bool:
    if request.param and not direct_io_works(tmp_path):
        pytest.skip(f"{tmp_path} does not take O_DIRECT writes")
    return bool(request.param)


def _batches(rng: np.random.Generator) -> list[tuple[slice, slice]]:
    """Token and attention row ranges of batches of random sizes (some a single row)."""
    token_cuts = np.unique(np.r_[0, 1, rng.choice(np.arange(2, N_TOKENS), 40, replace=False), N_TOKENS])
    attention_cuts = np.unique(
        np.r_[0, 1, rng.choice(np.arange(2, N_PAIRS), len(token_cuts) - 3, replace=False), N_PAIRS]
    )
    return [
        (slice(a, b), slice(c, d))
        for a, b, c, d in zip(
            token_cuts[:-1], token_cuts[1:], attention_cuts[:-1], attention_cuts[1:], strict=True
        )
    ]


def _expected(rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {name: rng.standard_normal(shape).astype(np.float32) for name, shape in SHAPES.items()}


def _write(
    writer: CaptureWriter, expected: dict[str, np.ndarray], batch: tuple[slice, slice], *, placed: bool
) -> None:
    for name, array in expected.items():
        rows = batch[1] if name.endswith("attention") else batch[0]
        if placed:  # as the capture does: packed straight into the writer's aligned block
            block = writer.empty_block(name, rows.start, rows.stop - rows.start)
            block[...] = array[:, rows]
        else:  # any array: the writer places it itself
            block = array[:, rows].copy()
        writer.write_block(name, block, rows.start)


def _on_disk(staging: Path, name: str) -> np.ndarray:
    return np.load(names.array_path(staging, name), mmap_mode="r")


def test_blocks_in_any_order_and_size_give_exactly_the_array(tmp_path: Path, direct: bool) -> None:
    rng = np.random.default_rng(3)
    expected, batches = _expected(rng), _batches(rng)
    writer = CaptureWriter(tmp_path, SHAPES, state_key="k", direct=direct, direct_min_bytes=0)
    assert [f.align > 1 for f in writer.files.values()] == [direct] * len(SHAPES)
    for batch_id in rng.permutation(len(batches)):
        _write(writer, expected, batches[batch_id], placed=bool(batch_id % 2))
        writer.mark_done(int(batch_id))
    writer.sync()
    writer.close()
    for name, array in expected.items():
        path = names.array_path(tmp_path, name)
        assert path.stat().st_size == 128 + array.nbytes, "no sector written past the end is left behind"
        np.testing.assert_array_equal(_on_disk(tmp_path, name), array)
    assert read_json(tmp_path / names.BUILD_STATE)["done"] == list(range(len(batches)))


@pytest.mark.parametrize("landed", [True, False], ids=["writes-landed", "writes-queued"])
def test_an_abandoned_build_records_only_written_batches_and_resumes_exactly(
    tmp_path: Path, direct: bool, landed: bool
) -> None:
    rng = np.random.default_rng(4)
    expected, batches = _expected(rng), _batches(rng)
    order = list(reversed(range(len(batches))))  # the capture's order: longest (last) batches first
    # q goes direct (32 kB per head and batch), the others through the page cache
    writer = CaptureWriter(
        tmp_path, SHAPES, state_key="k", n_batches=len(batches), direct=direct, direct_min_bytes=16 << 10
    )
    for batch_id in order[:25]:
        _write(writer, expected, batches[batch_id], placed=True)
        writer.mark_done(batch_id)
    if landed:
        writer.behind.drain()
    writer.close()  # as if killed: queued writes and partial sectors are dropped
    done = read_json(tmp_path / names.BUILD_STATE)["done"]
    assert set(done) <= set(order[:25])
    if landed:
        assert len(done) >= 22, "the record trails the capture by a batch or two, not by all of it"
    for batch_id in done:  # a batch on record is in the file, every byte of it
        tokens, attention = batches[batch_id]
        for name, array in expected.items():
            rows = attention if name.endswith("attention") else tokens
            np.testing.assert_array_equal(_on_disk(tmp_path, name)[:, rows], array[:, rows], err_msg=name)

    resumed = CaptureWriter(
        tmp_path, SHAPES, state_key="k", n_batches=len(batches), direct=direct, direct_min_bytes=16 << 10
    )
    assert resumed.done == frozenset(done)
    for batch_id in order:
        if batch_id not in resumed.done:
            _write(resumed, expected, batches[batch_id], placed=True)
            resumed.mark_done(batch_id)
    resumed.sync()
    resumed.close()
    for name, array in expected.items():
        np.testing.assert_array_equal(_on_disk(tmp_path, name), array)


def test_only_arrays_with_large_blocks_are_written_directly(tmp_path: Path, direct: bool) -> None:
    writer = CaptureWriter(tmp_path, SHAPES, state_key="k", n_batches=2, direct=direct)
    direct_files = {name for name, f in writer.files.items() if f.align > 1}
    writer.close()
    # per head and batch: q's 640 kB and attention's 200 kB go direct, v_norm's 40 kB through the page cache
    assert direct_files == ({"layers.0.q", "layers.0.attention"} if direct else set())


def test_another_build_key_starts_over(tmp_path: Path) -> None:
    writer = CaptureWriter(tmp_path, SHAPES, state_key="one")
    writer.mark_done(0)
    writer.sync()
    writer.close()
    assert CaptureWriter(tmp_path, SHAPES, state_key="two").done == frozenset()


def test_a_failed_write_is_raised_in_the_capture_thread_and_later_jobs_do_not_run(tmp_path: Path) -> None:
    behind = WriteBehind()
    ran: list[str] = []
    read_only = os.open(tmp_path / "file", os.O_RDONLY | os.O_CREAT, 0o600)
    try:
        behind.write(read_only, [(0, memoryview(b"data"))])
        behind.then(lambda: ran.append("after the failed write"))
        with pytest.raises(OSError, match="writing the run's arrays failed"):
            behind.drain()
        with pytest.raises(OSError, match="writing the run's arrays failed"):
            behind.write(read_only, [(4, memoryview(b"more"))])
    finally:
        behind.close(abandon=True)
        os.close(read_only)
    assert ran == [], "nothing recorded as done after a failed write"
