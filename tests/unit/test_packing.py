"""A padded batch packs into exactly its sequences' rows, in batch order, for every head."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attentionviz.capture.packing import BatchRows


def _reference_tokens(tensor: torch.Tensor, lengths: list[int]) -> np.ndarray:
    return np.stack(
        [
            np.concatenate([tensor[b, h, :n].numpy() for b, n in enumerate(lengths)])
            for h in range(tensor.shape[1])
        ]
    )


@pytest.mark.parametrize("lengths", [[5, 3, 1], [4, 4], [1]])
def test_rows_of_a_padded_batch_are_its_sequences_in_order(lengths: list[int]) -> None:
    generator = torch.Generator().manual_seed(0)
    size, heads = max(lengths), 3
    vectors = torch.randn(len(lengths), size, heads, 8, generator=generator).transpose(
        1, 2
    )  # as models view q
    rows = BatchRows.of(lengths, token_start=10)

    np.testing.assert_array_equal(rows.tokens(vectors), _reference_tokens(vectors, lengths))
    np.testing.assert_array_equal(rows.tokens(vectors[..., 0]), _reference_tokens(vectors[..., 0], lengths))
    assert rows.token_start == 10 and rows.n_tokens == sum(lengths)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_rows_keep_their_two_bytes(dtype: torch.dtype) -> None:
    """float16 packs as float16; bfloat16 (which numpy lacks) as its bit patterns, widened exactly later."""
    from attentionviz.store.arrays import as_float

    vectors = torch.randn(2, 3, 5, 4, generator=torch.Generator().manual_seed(2)).to(dtype)
    packed = BatchRows.of([5, 3], token_start=0).tokens(vectors)
    assert packed.itemsize == 2
    decoded = as_float(packed, "bfloat16" if dtype == torch.bfloat16 else "float16")
    np.testing.assert_array_equal(decoded, _reference_tokens(vectors.float(), [5, 3]))


def test_a_tensor_padded_differently_from_the_batch_is_refused() -> None:
    rows = BatchRows.of([3, 2], token_start=0)
    with pytest.raises(ValueError, match="ran 4 positions for a batch padded to 3"):
        rows.tokens(torch.zeros(2, 1, 4, 8))


def test_rows_pack_into_a_block_whose_heads_lie_apart() -> None:
    """Into a block whose heads lie apart: each head contiguous, heads at any distance."""
    generator = torch.Generator().manual_seed(1)
    lengths, heads = [6, 6, 2], 4
    vectors = torch.randn(len(lengths), heads, 6, 8, generator=generator)
    rows = BatchRows.of(lengths, token_start=0)
    memory = np.full(heads * 200, np.nan, dtype=np.float32)
    block = np.lib.stride_tricks.as_strided(memory[3:], (heads, rows.n_tokens, 8), (200 * 4, 8 * 4, 4))
    packed = rows.tokens(vectors, block)
    assert packed is block
    np.testing.assert_array_equal(block, _reference_tokens(vectors, lengths))
    assert np.isnan(memory[:3]).all() and np.isnan(memory[3 + rows.n_tokens * 8 : 200]).all(), (
        "nothing outside"
    )
