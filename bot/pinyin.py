"""Pinyin input and homophone typos: map toneless pinyin back to the Chinese words the corpus uses."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from functools import cache, lru_cache

from pypinyin import Style, lazy_pinyin, pinyin
from pypinyin.pinyin_dict import pinyin_dict

MAX_WORD_SYLLABLES = 6
SINGLE_WORD_COUNT = 20
_TONED = "āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜüńňǹḿ"
_PLAIN = "aaaaeeeeiiiioooouuuuvvvvvnnnm"
_TONELESS = str.maketrans(_TONED, _PLAIN)
_HAS_VOWEL = re.compile("[aeiouv]")
_LATIN_WORD = re.compile(r"[a-z]+")


@cache
def pinyin_syllables() -> frozenset[str]:
    """Every toneless pinyin syllable (with v for ü), read from pypinyin's own dictionary."""
    readings = {reading for value in pinyin_dict.values() for reading in value.split(",")}
    syllables = {reading.translate(_TONELESS) for reading in readings}
    return frozenset(s for s in syllables if s.isascii() and s.isalpha() and _HAS_VOWEL.search(s))


def split_syllables(word: str) -> list[str] | None:
    """Split a run of letters into pinyin syllables (fewest syllables wins), or None if it is not pinyin."""
    syllables = pinyin_syllables()
    n = len(word)
    best: list[list[str] | None] = [None] * (n + 1)
    best[0] = []
    for end in range(1, n + 1):
        for start in range(max(0, end - 6), end):
            prefix = best[start]
            piece = word[start:end]
            if prefix is not None and piece in syllables:
                candidate = [*prefix, piece]
                current = best[end]
                if current is None or len(candidate) < len(current):
                    best[end] = candidate
    return best[n]


@lru_cache(maxsize=8192)
def readings(char: str) -> frozenset[str]:
    """Every toneless reading of a Chinese character (重 is zhong and chong)."""
    return frozenset(
        r for found in pinyin(char, style=Style.NORMAL, heteronym=True, errors="ignore") for r in found
    )


@lru_cache(maxsize=65536)
def to_pinyin(word: str) -> tuple[str, ...]:
    """Toneless pinyin of a Chinese word, one syllable per character."""
    return tuple(lazy_pinyin(word, style=Style.NORMAL, v_to_u=False, errors="ignore"))


class PinyinDictionary:
    """Chinese words of the corpus keyed by their pinyin, most frequent first."""

    def __init__(
        self, words: Iterable[str], known_sounds: Mapping[str, tuple[str, ...]] | None = None
    ) -> None:
        counted = Counter(words)  # counted first: each distinct word is then checked once
        counts = Counter(
            {w: n for w, n in counted.items() if w and all("\u3400" <= c <= "\u9fff" for c in w)}
        )
        known_sounds = known_sounds or {}
        # Each word's pinyin, kept so that the next build of the same corpus need not convert it again.
        self.sounds: dict[str, tuple[str, ...]] = {}
        by_sound: dict[tuple[str, ...], tuple[str, int]] = {}
        for word, count in counts.items():
            sound = known_sounds.get(word) or to_pinyin(word)
            self.sounds[word] = sound
            if len(sound) != len(word) or len(sound) > MAX_WORD_SYLLABLES:
                continue
            known = by_sound.get(sound)
            if known is None or count > known[1] or (count == known[1] and word < known[0]):
                by_sound[sound] = (word, count)
        self._by_sound = {sound: word for sound, (word, _) in by_sound.items()}
        # A lone syllable has many characters; it is read only where the corpus has one clear word for it
        # ("zhao" 招, "ren" 人), used far more often than any other word of that sound.
        self._single_words = frozenset(
            word
            for sound, (word, count) in by_sound.items()
            if len(sound) == 1 and count >= SINGLE_WORD_COUNT
        )
        self._vocabulary = frozenset(counts)
        self._sound_characters = frozenset(c for word in self._by_sound.values() for c in word)

    def knows(self, word: str) -> bool:
        """Whether the corpus uses this Chinese word."""
        return word in self._vocabulary

    def homophone(self, word: str) -> str | None:
        """The corpus word that sounds like `word` (学废 -> 学费), if there is exactly one sound match."""
        found = self._by_sound.get(to_pinyin(word))
        return found if found and found != word else None

    def homophone_sharing(self, word: str) -> str | None:
        """`homophone`, when the corpus word also shares a character with `word` (typos keep most of it).

        A word none of whose characters any corpus word uses has no such homophone: it is not converted
        to pinyin at all (the conversion is the dearest step of mending a question).
        """
        if self._sound_characters.isdisjoint(word):
            return None
        found = self.homophone(word)
        return found if found and not set(found).isdisjoint(word) else None

    def from_syllables(self, syllables: list[str]) -> list[str]:
        """Cover a syllable sequence with corpus words, longest words first; uncovered syllables are dropped."""
        words: list[str] = []
        i = 0
        while i < len(syllables):
            for size in range(min(MAX_WORD_SYLLABLES, len(syllables) - i), 0, -1):
                word = self._by_sound.get(tuple(syllables[i : i + size]))
                if word and (size > 1 or len(syllables) == 1 or word in self._single_words):
                    words.append(word)
                    i += size
                    break
            else:
                i += 1
        return words

    def transliterate(self, text: str) -> str | None:
        """Turn a pinyin question ("xuefei duoshao") into Chinese words, or None if it is not pinyin."""
        runs = _LATIN_WORD.findall(text)
        if not runs or _LATIN_WORD.sub("", text).strip(" ?.!0-9"):
            return None
        syllables: list[str] = []
        for run in runs:
            split = split_syllables(run)
            if split is None:
                return None
            syllables.extend(split)
        words = self.from_syllables(syllables)
        if len(syllables) > 1 and not any(len(w) > 1 for w in words):
            return None  # lone syllables alone ("quota" read as qu-o-ta, 去) are not enough to call it pinyin
        return "".join(words) if words else None
