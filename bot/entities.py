"""Entity spotting: which province or campus a question names, so an entry can answer for that one."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz import process
from rapidfuzz.distance import OSA

from bot.corpus import EntityName
from bot.pinyin import readings
from bot.text import CJK, FiledTerms

# A private-use character stands in for a spotted name, so "河南招几个" and "四川招多少" look alike.
PLACEHOLDER = "\ue000"
_LATIN_WORD = re.compile(r"(?<![0-9a-z])[a-z]{5,}(?![0-9a-z])")
_EXCLUDING = re.compile(
    r"(?:除了|除去|除开|除|不算|besides|apart from|other than|aside from|except(?: for)?|after)\s*$"
)
"""Words before a name that set it aside: the question is about the others ("除了重庆，哪个省最多")."""
_JOINING = re.compile(r"\s*(?:和|与|跟|及|、|,|，|and|or|&)\s*")
_PROTECTED = re.compile("\ue001(\\d+)\ue001")


@dataclass(frozen=True)
class Spotted:
    """The entities a text names, and the text with each name replaced by a placeholder."""

    text: str
    found: tuple[tuple[str, str], ...]  # (entity type, key), in order of appearance

    def key_for(self, entity_type: str | None) -> str | None:
        """The named entities of that type, joined with '+' in order of mention ("hunan+sichuan"), or None."""
        keys = dict.fromkeys(key for t, key in self.found if t == entity_type)
        return "+".join(keys) or None

    @property
    def types(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t for t, _ in self.found))


class EntitySpotter:
    """Finds entity names, longest first; words on the ignore list never count as a name."""

    def __init__(self, names: Iterable[EntityName], ignore: Iterable[str], normalise) -> None:
        self._names: dict[str, tuple[str, str]] = {}
        for name in names:
            text = normalise(name.text)
            if text:
                self._names.setdefault(text, (name.entity_type, name.key))
        self._ignore = sorted({normalise(w) for w in ignore if normalise(w)}, key=len, reverse=True)
        self._by_length = sorted(self._names, key=len, reverse=True)
        self._latin_names = [n for n in self._names if n.isascii() and n.isalpha() and len(n) >= 5]
        self._filed = FiledTerms(self._by_length)
        # Chinese names by each of their characters, for names typed with a homophone (四穿 for 四川).
        self._chinese_by_char: dict[str, list[tuple[str, int]]] = {}
        for name in self._names:
            if len(name) == 2 and all(CJK.match(c) for c in name):  # provinces: longer names mislead
                for position, char in enumerate(name):
                    self._chinese_by_char.setdefault(char, []).append((name, position))

    def _present(self, text: str) -> tuple[str, ...]:
        """The names that occur in the text, longest first."""
        found = [n for n in self._filed.candidates(text) if n in text]
        return tuple(sorted(found, key=len, reverse=True)) if len(found) > 1 else tuple(found)

    def spot(self, text: str, mend_typos: bool = False) -> Spotted:
        """Replace every entity name in normalised text with the placeholder and list what was named."""
        if mend_typos:
            text = self._mend_misheard(text)
        present = self._present(text)
        if not present and not (mend_typos and self._latin_names and _LATIN_WORD.search(text)):
            return Spotted(text, ())
        protected: list[str] = []
        ignored = tuple(w for w in self._ignore if w in text)
        if ignored:

            def protect(match: re.Match[str]) -> str:
                protected.append(match.group())
                return f"\ue001{len(protected) - 1}\ue001"

            text = _alternation(ignored).sub(protect, text)
        found: list[tuple[str, str]] = []
        excluded_until = -1  # where the last name set aside by "除了" / "besides" ends

        def replace(match: re.Match[str]) -> str:
            nonlocal excluded_until
            before = match.string[: match.start()]
            if _EXCLUDING.search(before) or (
                excluded_until >= 0 and _JOINING.fullmatch(match.string[excluded_until : match.start()])
            ):
                excluded_until = match.end()  # "除了重庆和四川，其他省份…" asks about neither
            else:
                found.append(self._names[match.group()])
            return f" {PLACEHOLDER} " if not CJK.search(match.group()) else PLACEHOLDER

        if present:
            text = _alternation(present).sub(replace, text)
        if mend_typos:
            text = _LATIN_WORD.sub(lambda m: self._misspelt_name(m.group(), found), text)
        if protected:
            text = _PROTECTED.sub(lambda m: protected[int(m.group(1))], text)
        return Spotted(" ".join(text.split()), tuple(found))

    def _mend_misheard(self, text: str) -> str:
        """A Chinese name typed with a homophone ("四穿", "重情") is the name: it keeps one of the name's
        characters in place, and each other character can be read as the name's. A real name is left alone."""
        if not CJK.search(text):
            return text
        mended: dict[str, str] = {}
        for i, char in enumerate(text):
            for name, position in self._chinese_by_char.get(char, ()):
                start = i - position
                window = text[start : start + len(name)] if start >= 0 else ""
                if len(window) != len(name) or window in self._names or not all(CJK.match(c) for c in window):
                    continue
                if all(a == b or readings(a) & readings(b) for a, b in zip(window, name, strict=True)):
                    mended.setdefault(window, name)
        for window, name in mended.items():
            text = text.replace(window, name)
        return text

    def _misspelt_name(self, word: str, found: list[tuple[str, str]]) -> str:
        """A one-letter slip in a Latin name ("hennan", "sichaun") names the entity when one name alone is close."""
        if len(word) < 5 or word in self._names:
            return word
        close = process.extract(word, self._latin_names, scorer=OSA.distance, score_cutoff=1, limit=2)
        if len(close) != 1:
            return word
        found.append(self._names[close[0][0]])
        return f" {PLACEHOLDER} "


@lru_cache(maxsize=4096)
def _alternation(words: tuple[str, ...]) -> re.Pattern[str]:
    """One pattern for the given names, longest first; Latin-script names only as whole words."""
    parts = [re.escape(w) if CJK.search(w) else rf"(?<![0-9a-z]){re.escape(w)}(?![0-9a-z])" for w in words]
    return re.compile("|".join(parts))
