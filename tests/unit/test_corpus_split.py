"""Sentence splitting on tricky text, and reading a large file in bounded memory."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from attentionviz.corpus import open_corpus
from attentionviz.corpus.split import split_text

TRICKY = [
    ("Dr. Smith paid $3.50 for it. Then he left.", ["Dr. Smith paid $3.50 for it.", "Then he left."]),
    (
        "The U.S. economy grew 2.5% in 2020. Prices rose.",
        ["The U.S. economy grew 2.5% in 2020.", "Prices rose."],
    ),
    (
        "Mr. and Mrs. Jones came at 5 p.m. on Monday. They left.",
        ["Mr. and Mrs. Jones came at 5 p.m. on Monday.", "They left."],
    ),
    ('He said "Stop." She did not. Really?', ['He said "Stop."', "She did not.", "Really?"]),
    ("Version 1.2.3 shipped, e.g. on time. It works.", ["Version 1.2.3 shipped, e.g. on time.", "It works."]),
    ("مرحبا بالعالم. كيف حالك؟ أنا بخير.", ["مرحبا بالعالم.", "كيف حالك؟", "أنا بخير."]),
    ("I love it 😀. You too 🎉! Yes.", ["I love it 😀.", "You too 🎉!", "Yes."]),
    ("Cafe\u0301 is open. Nai\u0308ve guests agree.", ["Cafe\u0301 is open.", "Nai\u0308ve guests agree."]),
    ("No final punctuation", ["No final punctuation"]),
]


@pytest.mark.parametrize(("text", "expected"), TRICKY)
def test_sentence_splitting_keeps_abbreviations_decimals_quotes_and_scripts_intact(
    text: str, expected: list[str]
) -> None:
    assert [s for _, s in split_text(text, "sentence")] == expected


def test_offsets_point_at_each_piece() -> None:
    text = "  First one.  Second one!\n\nThird\n  line  \n"
    for split in ("sentence", "line", "paragraph"):
        for offset, piece in split_text(text, split):
            assert text[offset : offset + len(piece)] == piece
    assert [s for _, s in split_text(text, "line")] == ["First one.  Second one!", "Third", "line"]
    assert [s for _, s in split_text(text, "paragraph")] == ["First one.  Second one!", "Third\n  line"]


def test_other_languages_use_their_own_rules() -> None:
    assert [s for _, s in split_text("こんにちは。元気ですか？はい。", "sentence", language="ja")] == [
        "こんにちは。",
        "元気ですか？",
        "はい。",
    ]
    corpus = open_corpus(["Hallo Welt. Wie geht's? Gut."], language="de")
    assert [i.text for i in corpus] == ["Hallo Welt.", "Wie geht's?", "Gut."]


def test_a_50_mb_file_streams_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    sentence = ("lorem ipsum dolor sit amet " * 400).strip() + ".\n"  # ≈11 KB, no blank lines anywhere
    repeats = 50 * 1024 * 1024 // len(sentence)
    with path.open("w", encoding="utf-8") as handle:
        for _ in range(repeats):
            handle.write(sentence)
    for split in ("sentence", "line"):
        tracemalloc.start()
        try:
            count = sum(1 for _ in open_corpus(path, split=split))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert count == repeats
        assert peak < 20 * 1024 * 1024, f"{split}: peak {peak / 2**20:.1f} MiB while reading a 50 MiB file"
