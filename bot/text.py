"""Text normalisation and language detection: what a question says, whatever the keyboard typed it with."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import cache, cached_property
from pathlib import Path

import opencc

CJK_CHAR = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
CJK = re.compile(f"[{CJK_CHAR}]")
CJK_RUN = re.compile(f"[{CJK_CHAR}]+")
# Anything that is not a letter, digit, CJK character, or a character that joins a word (e-mail, 023-6848).
_NOISE = re.compile(rf"[^0-9a-z{CJK_CHAR}@.\-_'+ ]+")
_SPACES = re.compile(r"\s+")
_REPEATED_LETTER = re.compile(r"([a-z])\1{2,}")
_REPEATED_CJK = re.compile(rf"([{CJK_CHAR}])\1{{2,}}")
_FULL_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
_LOOSE_DOTS = re.compile(r"(?<![0-9a-z])[.\-_'+]+|[.\-_'+]+(?![0-9a-z])")


EMOTICONS_FILE = Path(__file__).resolve().parent / "data" / "wechat_emoticons.txt"


class Emoticons:
    """WeChat's emoticons as text ("[微笑]", "[Smile]") and as codes ("/::)", "/:rose"): not words of a question."""

    def __init__(self, emoticons: Iterable[str]) -> None:
        names = sorted({e for e in emoticons if e}, key=len, reverse=True)
        # A code ending in a letter ("/:ok") is one only when no letter follows ("/:okay" is not).
        alternatives = [
            re.escape(e) + ("(?![A-Za-z])" if e[-1].isalpha() and e[0] == "/" else "") for e in names
        ]
        self._pattern = re.compile("|".join(alternatives) or "(?!)")

    @classmethod
    def load(cls, path: Path) -> Emoticons:
        """One emoticon a line; blank lines and # comments are skipped."""
        lines = path.read_text(encoding="utf-8").splitlines()
        return cls(line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#"))

    def remove(self, text: str) -> str:
        """The text without its emoticons (each leaves a space, so words on either side stay apart)."""
        if "[" not in text and "/:" not in text:
            return text
        return self._pattern.sub(" ", text)

    def found_in(self, text: str) -> bool:
        """True when the text holds an emoticon."""
        return ("[" in text or "/:" in text) and self._pattern.search(text) is not None


@cache
def wechat_emoticons() -> Emoticons:
    """The emoticons of bot/data/wechat_emoticons.txt, read once per process."""
    return Emoticons.load(EMOTICONS_FILE)


class TextNormaliser:
    """Folds width, case, script, punctuation, emoji, emoticons and stutter so that equal questions look equal."""

    def __init__(self, emoticons: Emoticons | None = None) -> None:
        self.emoticons = emoticons if emoticons is not None else wechat_emoticons()

    @cached_property
    def _to_simplified(self) -> opencc.OpenCC:
        return opencc.OpenCC("t2s")

    def normalise(self, text: str) -> str:
        """Return the question in one canonical form: NFKC, lower case, simplified Chinese, plain spaces."""
        text = self.emoticons.remove(text or "")  # cheap unless the text has "[" or "/:"
        if text.isascii():  # no surrogates, full-width forms, compatibility characters or CJK to fold
            text = _LOOSE_DOTS.sub(" ", _NOISE.sub(" ", text.lower()))
            return _SPACES.sub(" ", _REPEATED_LETTER.sub(r"\1\1", text)).strip()
        # Lone surrogates (possible in JSON) are not text; drop them before anything encodes the string.
        text = text.encode("utf-8", "ignore").decode("utf-8")
        # Full-width letters and punctuation (，？！) first, by table: NFKC maps them the same way, but a text
        # containing them leaves its quick path and costs a hundred times more.
        text = unicodedata.normalize("NFKC", text.translate(_FULL_WIDTH)).lower()
        if CJK.search(text):
            text = self._to_simplified.convert(text)
        text = _NOISE.sub(" ", text)
        text = _LOOSE_DOTS.sub(" ", text)
        text = _REPEATED_LETTER.sub(r"\1\1", text)
        text = _REPEATED_CJK.sub(r"\1", text)
        return _SPACES.sub(" ", text).strip()


_LATIN_WORD = re.compile(r"[A-Za-z]+")
_LATIN_RUN = re.compile(r"[a-z]+")


class FiledTerms:
    """Fixed terms filed by first character (Chinese) or first Latin word, so that a text is checked only
    against the few terms that could occur in it."""

    def __init__(self, terms: Iterable[str]) -> None:
        self._filed: dict[str, list[str]] = {}
        for term in terms:
            latin = None if CJK.search(term) else _LATIN_RUN.match(term)
            self._filed.setdefault(latin.group() if latin else term[0], []).append(term)

    def candidates(self, text: str) -> list[str]:
        """The terms that may occur in normalised text; the caller still checks each."""
        keys = (set(text) | set(_LATIN_RUN.findall(text))) & self._filed.keys()
        return [term for key in keys for term in self._filed[key]]


def detect_language(text: str) -> str:
    """'zh' or 'en': mixes count as Chinese ("UoL的degree承认吗") unless English clearly dominates."""
    chinese = len(CJK.findall(text or ""))
    if not chinese:
        return "en"
    latin = _LATIN_WORD.findall(text)
    # A mix is in the language of its grammar: "how many 名额 for 四川?" is English with Chinese nouns,
    # "Leicester的clinical medicine ranking多少" Chinese with English nouns.
    english_grammar = sum(1 for word in latin if word.lower() in _EN_GRAMMAR)
    chinese_grammar = len(_ZH_GRAMMAR.findall(text))
    if chinese_grammar > english_grammar:
        return "zh"
    if english_grammar >= ENGLISH_CLAUSE and english_grammar > chinese_grammar:
        return "en"
    # Otherwise mixes count as Chinese ("学费 how much") unless English clearly dominates.
    return "zh" if chinese >= len(latin) else "en"


ENGLISH_CLAUSE = 3
"""English grammar words that make a clause ("how many … for …"), not a borrowed phrase ("how much")."""
_EN_GRAMMAR = frozenset(
    re.findall(
        r"\S+",
        "how what when where which who why is are am was were do does did can could will would should may must "
        "i you we he she they it my your our the a an for of to in on at with from and or there many much be "
        "have has any if not",
    )
)
_ZH_GRAMMAR = re.compile("的|吗|呢|吧|多少|几|怎么|什么|是|有|能|可以|要|在|哪|么|了|和|还|不|啥|咋")


def utf8_len(text: str) -> int:
    """Size of the text as WeChat counts it."""
    return len(text.encode("utf-8"))
