"""jieba, and its dictionary read one first character at a time.

Reading jieba's whole dictionary (half a million words and prefixes) takes a third of a second, a large share
of a fresh process's start, yet a question uses the words of a few dozen characters. jieba looks up only words
that begin with a character of the text it cuts (get_DAG, then calc over the same text) or of the word it adds,
so a dictionary filed by first character, each file read the first time a text has that character, cuts every
text exactly as the whole dictionary does.
"""

from __future__ import annotations

import importlib
import logging
import marshal
import sys
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType


def _import_jieba() -> ModuleType:
    """jieba, imported without pkg_resources, which it would import only to find its own files.

    pkg_resources takes a tenth of a second to import, a tenth of the bot's start; without it jieba opens
    its files by path (its documented fallback). A process that has already imported it keeps it.
    """
    if "jieba" in sys.modules or "pkg_resources" in sys.modules:
        return importlib.import_module("jieba")
    sys.modules["pkg_resources"] = None  # type: ignore[assignment]  # makes `import pkg_resources` fail
    try:
        return importlib.import_module("jieba")
    finally:
        del sys.modules["pkg_resources"]


jieba = _import_jieba()


@dataclass(frozen=True)
class FiledDictionary:
    """jieba's default dictionary filed by first character: each file is the marshalled {word: frequency}
    (with jieba's zero-frequency prefixes) of the words that begin with that character."""

    total: int
    files: dict[str, bytes]

    @classmethod
    def of(cls, frequencies: dict[str, int], total: int) -> FiledDictionary:
        """File a whole dictionary (jieba's FREQ and total)."""
        filed: dict[str, dict[str, int]] = {}
        for word, frequency in frequencies.items():
            filed.setdefault(word[:1], {})[word] = frequency
        return cls(total, {first: marshal.dumps(words) for first, words in filed.items()})


def _default_dictionary() -> tuple[dict[str, int], int]:
    """jieba's default dictionary, read from jieba's own cache file in one piece.

    jieba's initialize() unmarshals the cache straight from the file object, in many small reads; reading
    the bytes first and unmarshalling them builds the same dictionary about three times faster.
    """
    tokenizer = jieba.Tokenizer()
    cache = Path(tempfile.gettempdir()) / "jieba.cache"
    try:
        frequencies, total = marshal.loads(cache.read_bytes())
    except (OSError, ValueError, EOFError, TypeError):
        tokenizer.initialize()  # no cache yet (or a broken one): jieba builds and writes it
        return tokenizer.FREQ, tokenizer.total
    return frequencies, total


class Segmenter(jieba.Tokenizer):
    """A jieba tokenizer over the default dictionary, whole or filed by first character (see the module).

    Words added (the corpus's synonyms, names and user dictionary) wait, each under its first character, until
    that character is read in; the total they add counts at once, as jieba's does. Reading a character in
    takes a lock, so a thread never cuts with half of one read.
    """

    def __init__(self, filed: FiledDictionary | None = None) -> None:
        jieba.setLogLevel(logging.WARNING)
        super().__init__()
        self._filed = filed
        self._unread: dict[str, bytes] = dict(filed.files) if filed else {}
        self._waiting: dict[str, list[tuple[str, int | None, str | None]]] = {}
        self._read_lock = threading.Lock()
        self._before: dict[str, int | None] = {}  # words as they were before the corpus added any
        if filed is None:
            self.FREQ, self.total = _default_dictionary()
        else:
            self.FREQ, self.total = {}, filed.total
        self._default_total = self.total
        self.initialized = True

    def get_DAG(self, sentence: str) -> dict[int, list[int]]:
        """jieba's word graph of a text, once the words of its characters are read in."""
        self._read(sentence)
        return super().get_DAG(sentence)

    def add_word(self, word: str, freq: int | str | None = None, tag: str | None = None) -> None:
        """Add a word now (it needs jieba's own estimate of its frequency) or once its first character is read."""
        word = jieba.strdecode(word)
        if not word or freq is None or int(freq) == 0 or word[0] not in self._unread:
            self._read(word[:1])
            if self._filed is None:
                for end in range(1, len(word) + 1):
                    self._before.setdefault(word[:end], self.FREQ.get(word[:end]))
            super().add_word(word, freq, tag)
            return
        with self._read_lock:
            if word[0] in self._unread:
                self.total += int(freq)
                self._waiting.setdefault(word[0], []).append((word, int(freq), tag))
                return
        super().add_word(word, freq, tag)  # read in by another thread meanwhile

    def frequency(self, word: str) -> int:
        """The dictionary's frequency of a word (0 for a prefix or an unknown word)."""
        self._read(word[:1])
        return self.FREQ.get(word) or 0

    def filed(self) -> FiledDictionary:
        """The default dictionary filed by first character, without the words the corpus added."""
        if self._filed is not None:
            return self._filed
        default = {word: n for word, n in self.FREQ.items() if word not in self._before}
        default.update((word, n) for word, n in self._before.items() if n is not None)
        return FiledDictionary.of(default, self._default_total)

    def _read(self, characters: Iterable[str]) -> None:
        """Read in the words of these characters (and the words added under them), once each."""
        unread = self._unread
        if not unread or not any(c in unread for c in characters):
            return
        with self._read_lock:
            for character in set(characters):
                words = unread.get(character)
                if words is None:
                    continue
                self.FREQ.update(marshal.loads(words))
                for word, freq, tag in self._waiting.pop(character, ()):
                    self._enter(word, freq, tag)
                del unread[character]  # last: until now, other threads wait for the lock

    def _enter(self, word: str, freq: int, tag: str | None) -> None:
        """What jieba's add_word does to the dictionary for a word of known, non-zero frequency, its total
        left alone (counted when the word was added)."""
        self.FREQ[word] = freq
        if tag:
            self.user_word_tag_tab[word] = tag
        for end in range(1, len(word)):
            self.FREQ.setdefault(word[:end], 0)
