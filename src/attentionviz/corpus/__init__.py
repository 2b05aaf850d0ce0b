"""Corpus readers: text files, tables, saved Hugging Face datasets, image folders, the demo corpus.

    from attentionviz.corpus import open_corpus

    corpus = open_corpus("corpus.txt", split="sentence")   # or .jsonl/.csv/.tsv/.parquet/.json,
    corpus.kind                                            # a saved dataset, an image folder,
    corpus.info                                            # "wikipedia", or a list of strings
    for item in corpus:                                    # streams; each pass re-reads the source
        item.document, item.text, item.source, item.image_path

`CorpusSequence` is one item: a sentence, line or paragraph of text, or one image.
"""

from __future__ import annotations

from attentionviz.corpus.base import SPLITS, Corpus, CorpusSequence
from attentionviz.corpus.detect import FORMATS, open_corpus

__all__ = ["FORMATS", "SPLITS", "Corpus", "CorpusSequence", "open_corpus"]
