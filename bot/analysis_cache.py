"""The analysis cache: what building the index works out from the corpus texts, kept in one file.

Segmenting, normalising, converting to pinyin and analysing some 2,800 corpus texts is most of the work of a
build. It depends only on the corpus files, the bot's code and data, and the libraries that do the work, so a
fresh process (a restarted server, each new worker) can read it back instead of doing it again.

The file is trusted only under the key it was written with: a hash of every corpus file, of every file of the
bot package, and of the Python and library versions. Any other key, a file that cannot be read or parsed, or
one of another format is ignored and the analysis is worked out afresh. It holds plain data (marshal: strings,
tuples, sets, dicts), never objects, so reading it runs no code. It is written to a temporary file next to it
and renamed over it, so a reader sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import hashlib
import logging
import marshal
import os
import struct
import sys
import tempfile
from functools import cache
from pathlib import Path

import numpy
import opencc
import pypinyin
import rapidfuzz
import yaml

from bot.entities import Spotted
from bot.index import Analysis, Query
from bot.segmenter import FiledDictionary, jieba
from bot.tokenise import Tokens

log = logging.getLogger("faqbot.analysis_cache")

FORMAT = b"faqbot-analysis-3"
"""The first line of the file; a different one is another format."""
_LENGTH = struct.Struct(">Q")
BOT_PACKAGE = Path(__file__).resolve().parent
LIBRARIES = (jieba, pypinyin, opencc, rapidfuzz, numpy, yaml)
"""The libraries whose output is kept (segmentation, pinyin, simplified Chinese, the index's arrays, the corpus)."""


def analysis_key(corpus_dir: Path) -> str:
    """A hash of everything the analysis depends on: corpus files, the bot's own files, Python and libraries."""
    digest = hashlib.sha256(dictionary_key().encode())
    for library in LIBRARIES:
        digest.update(f"|{library.__name__} {getattr(library, '__version__', '?')}".encode())
    digest.update(_files_digest(corpus_dir))
    digest.update(_code_digest())
    return digest.hexdigest()


@cache
def dictionary_key() -> str:
    """A hash of what jieba's filed dictionary depends on (Python, jieba and its dictionary file), not the
    corpus: a build for an edited corpus reads it from the file kept for the previous one."""
    digest = hashlib.sha256(f"{FORMAT!r}|{sys.version}|marshal {marshal.version}".encode())
    digest.update(f"|jieba {getattr(jieba, '__version__', '?')}".encode())
    jieba_dictionary = Path(jieba.__file__).with_name("dict.txt")
    if jieba_dictionary.exists():
        stat = jieba_dictionary.stat()
        digest.update(f"|jieba dict {stat.st_size} {stat.st_mtime_ns}".encode())
    return digest.hexdigest()


@cache
def _code_digest() -> bytes:
    """A hash of the bot package's files, taken once: the code this process runs, even if a deploy has since
    replaced the files (a cache written now must not be trusted by the new code)."""
    return _files_digest(BOT_PACKAGE, recursive=True)


def _files_digest(folder: Path, recursive: bool = False) -> bytes:
    """A hash of the names and contents of the files in a folder (and below it, if recursive)."""
    digest = hashlib.sha256()
    found = folder.rglob("*") if recursive else folder.glob("*")
    for path in sorted(p for p in found if p.is_file() and "__pycache__" not in p.parts):
        content = path.read_bytes()
        digest.update(f"|{path.relative_to(folder)} {len(content)}|".encode())
        digest.update(content)
    return digest.digest()


def read_analysis(path: Path, key: str) -> Analysis | None:
    """The analysis kept under this key, or None when there is none, it is stale or it cannot be read."""
    data = _read(path)
    if data is None:
        return None
    if not data.startswith(FORMAT + b" " + key.encode() + b"\n"):
        log.info("analysis cache %s is for another corpus, version or format; working the analysis out", path)
        return None
    try:
        dictionary, rest = _sections(data)
        return _analysis_from(marshal.loads(rest), dictionary)
    except (EOFError, ValueError, TypeError, KeyError, IndexError) as exc:
        log.warning("analysis cache %s is damaged (%s); working the analysis out", path, exc)
        return None


def read_dictionary(path: Path) -> FiledDictionary | None:
    """jieba's filed dictionary from the file, whatever corpus it was kept for, when jieba is the same."""
    data = _read(path)
    if data is None or not data.startswith(FORMAT + b" "):
        return None
    try:
        dictionary, _ = _sections(data)
        return dictionary
    except (EOFError, ValueError, TypeError, KeyError, IndexError):
        return None


def write_analysis(path: Path, key: str, analysis: Analysis) -> None:
    """Keep the analysis under this key, replacing the file whole; a failure is logged, not raised."""
    dictionary = analysis.dictionary
    filed = marshal.dumps((dictionary.total, dictionary.files) if dictionary else None)
    head = FORMAT + b" " + key.encode() + b"\n" + dictionary_key().encode() + b"\n"
    content = head + _LENGTH.pack(len(filed)) + filed + marshal.dumps(_plain(analysis))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(content)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as exc:
        log.warning("analysis cache %s cannot be written (%s); the next start works it out again", path, exc)


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.warning("analysis cache %s cannot be read (%s); working the analysis out", path, exc)
        return None


def _sections(data: bytes) -> tuple[FiledDictionary | None, memoryview]:
    """The file's filed dictionary (None unless it is for this jieba) and the rest, still marshalled.

    Layout: a line with the format and the analysis key, a line with the dictionary key, the length of the
    dictionary's section (8 bytes), that section, then the analysis.
    """
    first = data.index(b"\n") + 1
    second = data.index(b"\n", first) + 1
    (length,) = _LENGTH.unpack_from(data, second)
    start = second + _LENGTH.size
    if start + length > len(data):
        raise ValueError("the dictionary's section runs past the end of the file")
    view = memoryview(data)
    rest = view[start + length :]
    if data[first : second - 1] != dictionary_key().encode():
        return None, rest
    filed = marshal.loads(view[start : start + length])
    return (_dictionary_from(*filed) if filed is not None else None), rest


def _plain(analysis: Analysis) -> tuple:
    """The analysis as plain data that marshal can write (no objects)."""
    queries = {
        text: (
            q.original,
            q.text,
            q.lang,
            (q.spotted.text, q.spotted.found),
            (q.tokens.words, q.tokens.bigrams, q.tokens.unknown, q.tokens.everyday),
            q.features,
            q.read_as_pinyin,
            q.normal,
        )
        for text, q in analysis.queries.items()
    }
    return analysis.normal, analysis.cuts, analysis.sounds, queries


def _analysis_from(plain: tuple, dictionary: FiledDictionary | None) -> Analysis:
    """The analysis back from plain data; raises TypeError or ValueError when it has another shape."""
    normal, cuts, sounds, queries = plain
    for table in (normal, cuts, sounds, queries):
        if not isinstance(table, dict):
            raise TypeError(f"expected a table, got {type(table).__name__}")
    return Analysis(
        normal,
        cuts,
        sounds,
        {text: _query_from(*fields) for text, fields in queries.items()},
        dictionary,
    )


def _dictionary_from(total: int, files: dict[str, bytes]) -> FiledDictionary:
    if not isinstance(total, int) or not isinstance(files, dict):
        raise TypeError("expected jieba's total and its dictionary filed by first character")
    return FiledDictionary(total, files)


def _query_from(
    original: str,
    text: str,
    lang: str,
    spotted: tuple[str, tuple[tuple[str, str], ...]],
    tokens: tuple[tuple[str, ...], ...],
    features: frozenset[str],
    read_as_pinyin: bool,
    normal: str,
) -> Query:
    if not isinstance(features, frozenset):
        raise TypeError(f"expected a set of features, got {type(features).__name__}")
    return Query(original, text, lang, Spotted(*spotted), Tokens(*tokens), features, read_as_pinyin, normal)
