"""A folder of images: each image file is one document and one sequence.

Images are found recursively (class sub-folders are fine), in sorted order of their path
relative to the folder; hidden files and folders are skipped, and so are files of other
types. Each image is fully decoded when it is read, so a corrupt or truncated file stops the
run with its name. Sizes and modes may differ: the model's image processor resizes and
converts every image. An animated image contributes its first frame.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

from attentionviz.corpus.base import Corpus, CorpusSequence, sha256_files
from attentionviz.errors import CorpusError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")


def image_files(folder: Path) -> list[Path]:
    """The image files under `folder`, sorted by relative path, hidden entries skipped."""
    found = [
        path
        for path in folder.rglob("*")
        if path.suffix.lower() in IMAGE_SUFFIXES
        and not any(part.startswith(".") for part in path.relative_to(folder).parts)
        and path.is_file()
    ]
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


def check_image(path: Path, *, label: str) -> None:
    """Decode `path` fully; raise a CorpusError naming it if it is corrupt, truncated or too large."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.load()
            width, height = image.size
    except Image.DecompressionBombError as exc:
        raise CorpusError(
            f"image {label} is too large to read safely ({exc}); shrink it or remove it"
        ) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise CorpusError(f"image {label} is corrupt or truncated ({exc}); remove or replace it") from exc
    if width == 0 or height == 0:
        raise CorpusError(f"image {label} is empty ({width}x{height}); remove or replace it")


class ImageFolderCorpus(Corpus):
    """Images under a folder; each sequence's `source` is the file's path relative to the folder."""

    kind: ClassVar[str] = "image"

    def __init__(self, folder: Path) -> None:
        if not folder.is_dir():
            raise CorpusError(f"{folder} is not a folder; point at a folder of images")
        if not image_files(folder):
            raise CorpusError(
                f"folder {folder} holds no images ({', '.join(IMAGE_SUFFIXES)}) and is not a saved dataset; "
                f"point at a folder of images, a text file or a table"
            )
        super().__init__(source=str(folder), fmt="images", split=None, text_column=None)
        self.folder = folder

    def __iter__(self) -> Iterator[CorpusSequence]:
        for index, path in enumerate(image_files(self.folder)):
            label = path.relative_to(self.folder).as_posix()
            check_image(path, label=f"{label} in {self.folder}")
            yield CorpusSequence(document=index, text=None, source=label, image_path=path)

    def fingerprint(self) -> str:
        return sha256_files(self.folder, image_files(self.folder))

    def count_documents(self) -> int:
        return len(image_files(self.folder))
