"""Assemble the training corpus of the embedded model from locally installed text.

Sources (each document is one file):

- ``stdlib``: the ``.py`` files of the running interpreter's standard library (PSF licence),
  without tests, IDLE, demos and third-party packages. Always present, so every machine can
  rebuild this part without network; the worker's corpus drafter index is built from it.
- ``nodejs-docs``: the Markdown API reference of Node.js under ``/usr/share/doc/nodejs/api``
  (MIT licence; Debian package ``nodejs-doc``). Optional: skipped with a warning when missing.

Documents are deduplicated by content, ordered by (source, relative path), and split into train and
validation by a hash of the source and path, so the split of a file never depends on which other
files exist.

Command line::

    python scripts/model/corpus.py --sources stdlib --split train --out stdlib-train.txt
"""

from __future__ import annotations

import argparse
import enum
import hashlib
import json
import logging
import sys
import sysconfig
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("corpus")

VALIDATION_PERCENT = 2
# Larger files are generated tables (Unicode data, encodings), not text worth learning.
MAX_DOCUMENT_BYTES = 400_000
NODEJS_DOCS_DIR = Path("/usr/share/doc/nodejs/api")
# Standard library folders left out: test suites (large generated data), IDLE and demos (GUI code),
# lib2to3 (Python 2 grammar tests), and installed third-party packages.
STDLIB_EXCLUDED_DIRS = frozenset(
    {"test", "tests", "idlelib", "turtledemo", "lib2to3", "site-packages", "dist-packages",
     "__pycache__", "ensurepip"}
)
# Prefix of the folder with the interpreter's build files (config-3.11-x86_64-linux-gnu and similar).
STDLIB_BUILD_DIR_PREFIX = "config-"
# Joins documents in the text output format.
TEXT_DOCUMENT_SEPARATOR = "\n\n"


class Source(enum.Enum):
    STDLIB = "stdlib"
    NODEJS_DOCS = "nodejs-docs"


class Split(enum.Enum):
    TRAIN = "train"
    VALIDATION = "validation"
    ALL = "all"


class OutputFormat(enum.Enum):
    JSONL = "jsonl"
    TEXT = "text"


@dataclass(frozen=True)
class Document:
    source: Source
    path: str  # relative to the source root, with forward slashes
    text: str

    @property
    def split(self) -> Split:
        return split_of(self.source, self.path)


def split_of(source: Source, relative_path: str) -> Split:
    """Assign a file to train or validation by a stable hash of its source and path."""
    digest = hashlib.sha256(f"{source.value}:{relative_path}".encode()).digest()
    bucket = int.from_bytes(digest[:8], "big") % 100
    return Split.VALIDATION if bucket < VALIDATION_PERCENT else Split.TRAIN


def stdlib_root() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def _read_text(path: Path) -> str | None:
    data = path.read_bytes()
    if len(data) > MAX_DOCUMENT_BYTES:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _is_excluded(folder: str, excluded_dirs: frozenset[str]) -> bool:
    return folder in excluded_dirs or folder.startswith(STDLIB_BUILD_DIR_PREFIX)


def _iter_files(root: Path, suffix: str, excluded_dirs: frozenset[str]) -> Iterator[tuple[str, Path]]:
    for path in sorted(root.rglob(f"*{suffix}")):
        relative = path.relative_to(root)
        if any(_is_excluded(folder, excluded_dirs) for folder in relative.parts[:-1]):
            continue
        if path.is_file():
            yield relative.as_posix(), path


def read_source(source: Source) -> list[Document]:
    """Read every document of one source, ordered by relative path."""
    if source is Source.STDLIB:
        root, suffix, excluded = stdlib_root(), ".py", STDLIB_EXCLUDED_DIRS
    else:
        root, suffix, excluded = NODEJS_DOCS_DIR, ".md", frozenset()
        if not root.is_dir():
            log.warning("source %s skipped: %s not found (install the Debian package nodejs-doc)",
                        source.value, root)
            return []

    documents = []
    for relative, path in _iter_files(root, suffix, excluded):
        text = _read_text(path)
        if text is not None and text.strip():
            documents.append(Document(source, relative, text))
    return documents


def deduplicate(documents: Iterable[Document]) -> list[Document]:
    """Keep the first document of each distinct text, in input order."""
    seen: set[bytes] = set()
    unique = []
    for document in documents:
        digest = hashlib.sha256(document.text.encode()).digest()
        if digest not in seen:
            seen.add(digest)
            unique.append(document)
    return unique


def load_corpus(sources: Sequence[Source], split: Split) -> list[Document]:
    """Return the deduplicated documents of ``sources`` in ``split``, ordered by source then path."""
    ordered = sorted(set(sources), key=lambda source: list(Source).index(source))
    documents = deduplicate(document for source in ordered for document in read_source(source))
    if split is Split.ALL:
        return documents
    return [document for document in documents if document.split is split]


def write_documents(documents: Sequence[Document], out: Path, output_format: OutputFormat) -> None:
    with out.open("w", encoding="utf-8", newline="") as file:
        if output_format is OutputFormat.TEXT:
            file.write(TEXT_DOCUMENT_SEPARATOR.join(document.text for document in documents))
            return
        for document in documents:
            record = {"source": document.source.value, "path": document.path, "text": document.text}
            file.write(json.dumps(record, ensure_ascii=False) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", nargs="+", choices=[s.value for s in Source],
                        default=[s.value for s in Source], help="sources to include (default: all)")
    parser.add_argument("--split", choices=[s.value for s in Split], default=Split.ALL.value,
                        help="which split to write (default: all)")
    parser.add_argument("--format", choices=[f.value for f in OutputFormat],
                        default=OutputFormat.JSONL.value,
                        help="jsonl: one {source, path, text} object per line; "
                             "text: the texts joined by a blank line")
    parser.add_argument("--out", type=Path, required=True, help="output file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")

    documents = load_corpus([Source(s) for s in args.sources], Split(args.split))
    write_documents(documents, args.out, OutputFormat(args.format))
    total_bytes = sum(len(document.text.encode()) for document in documents)
    log.info("wrote %d documents, %.1f MB of text, to %s", len(documents), total_bytes / 1e6, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
