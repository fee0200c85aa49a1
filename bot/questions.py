"""The questions inside one message: families often ask two or three things at once.

A message is cut where its writer marked a new question: a question mark or full stop, a numbered list
("1. … 2. …", "①"), a connector that starts another question (另外, 还有, 以及, "and is …", "also", "plus"), a
comma between two questions, or a list of topics ("学费、学制、招多少人", "fees, duration and intake"). It is not
cut inside a noun phrase ("China and the UK", "重庆和四川各招多少"): "and" and 和 cut only before a question,
or between two short topics ("学费和奖学金", `topic_pair`) that the dialogue then checks are two questions.
This module only reads punctuation and question words; which pieces are worth answering is the dialogue's
decision (it knows small talk, entity names and the matcher).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.text import CJK

MAX_QUESTIONS = 6
"""A message is answered question by question up to this many; a longer list is read as one message."""
TOPIC_MAX_CJK = 8
TOPIC_MAX_WORDS = 4
"""An item of a topic list is short: "学费", "招多少人", "the fees", "how long"."""

_NUMBER_MARK = re.compile(r"(?:(?:^|(?<=[\s。？?！!；;，,:：]))[(（]?([1-9])[)）.．、]|([①-⑨]))(?!\d)")
_SENTENCE_END = re.compile(r"(?<=[。？?！!；;\n：])|(?<=:)(?![\d/])|(?<=[a-z0-9)]\.)\s+", re.IGNORECASE)
_ZH_CONNECTOR = re.compile(r"(另外|此外|还有就是|还有|以及|再就是|顺便问一下|顺便问下|还想问一下|还想问)")
_EN_CONNECTOR = re.compile(r",?\s+(?:and also|and|also|plus|as well as)\s+(?=\w)", re.IGNORECASE)
_CLAUSE_COMMA = re.compile(r"[，,]\s*|(?<=[\u4e00-\u9fff])\s+(?=[\u4e00-\u9fff])")
"""A comma, or in chat a space between two Chinese stretches ("学制几年 第五年干什么")."""
_LIST_COMMA = re.compile(r"\s*[、]\s*")
_EN_LIST = re.compile(r"\s*,\s*(?:and\s+)?|\s+and\s+", re.IGNORECASE)
_ZH_LAST_ITEM = re.compile(r"(和|以及|及|还有)(?=[^和及]{1,8}$)")
_EN_OPENER = re.compile(
    r"^(what|what's|whats|how|when|where|which|who|whose|why|is|are|am|can|could|do|does|did|will|would|"
    r"should|may|must|has|have|tell me|please tell|i'd like to know|i would like to know|i want to know|"
    r"i wonder|could you tell)(?![\w'’])",
    re.IGNORECASE,
)
_ZH_ASKS = re.compile(
    r"吗|呢|么|多少|几|什么|啥|咋|谁|怎么|怎样|如何|哪|是否|能否|可否|有没有|是不是|能不能|会不会|要不要|需不需要|可不可以|多久|多长|"
    r"请问|想问|想了解|想知道"
)
_EN_LEAD = re.compile(
    r"^(?:(?:also|and|plus|then|so|ok|okay|oh|btw|by the way|one more thing)\b[\s,]*)+", re.IGNORECASE
)
_QUOTED = re.compile(
    r"[“\"「『《‘][^”\"」』》’]*[,，、][^”\"」』》’]*[”\"」』》’]|(?<![a-z])'[^']*[,，、][^']*'",
    re.IGNORECASE,
)
_ZH_QUESTION_END = re.compile(r"(吗|呢|么|多少|几[个年岁名]?|什么|哪里|哪儿|如何|怎么样|怎样|多久|多长时间)$")
_ZH_OR = ("还是", "或者", "或是")
MIN_WORDS = 3
MIN_CJK = 3
"""A question cut off after a connector has at least this many words (or Chinese characters)."""
_EDGE = " \t\r\n，,、。.？?！!；;：:"


@dataclass(frozen=True)
class Piece:
    """A stretch of a message; `asks` when it reads as a question, `listed` when the writer set it apart
    as an item (a numbered item, a topic in a list, the question after a connector)."""

    text: str
    asks: bool
    listed: bool = False

    @property
    def is_question(self) -> bool:
        return self.asks or self.listed


def asks(text: str) -> bool:
    """True when the text reads as a question: a question mark, a Chinese question word, an English opener."""
    stripped = text.strip()
    if not stripped:
        return False
    if stripped[-1] in "?？":
        return True
    if stripped[-1] in ":：":
        return False  # "Quick questions:" introduces the questions
    if CJK.search(stripped):
        return bool(_ZH_ASKS.search(stripped))
    # "In 2020, how many places …": the question may open after a comma.
    clauses = _CLAUSE_COMMA.split(stripped)
    return any(_EN_OPENER.match(_EN_LEAD.sub("", c.strip(_EDGE))) for c in clauses if c.strip(_EDGE))


def split_message(text: str) -> list[Piece]:
    """The pieces of a message in order: its questions, and the sentences around them (greetings, background)."""
    numbered = _numbered_items(text)
    if numbered is not None:
        preamble, items = numbered
        # "想问一下：1. … 2. …": what comes before the list introduces it.
        pieces = [Piece(s, s.rstrip()[-1:] in "?？") for s in _sentences(preamble)]
        for item in items:
            for n, sentence in enumerate(_sentences(item)):
                pieces += [Piece(p.text, p.asks, p.listed or n == 0) for p in _split_sentence(sentence)]
    else:
        pieces = [p for sentence in _sentences(text) for p in _split_sentence(sentence)]
    return [
        Piece(p.text.strip().rstrip("，,、;； "), p.asks, p.listed) for p in pieces if p.text.strip(_EDGE)
    ]


def split_questions(text: str) -> list[str]:
    """The questions of a message in order (without its greetings and background sentences)."""
    return [p.text for p in split_message(text) if p.is_question]


LONG_MESSAGE = (20, 30)
"""A message longer than this many (English words, Chinese characters) is read for the clauses that ask."""
_EN_CLAUSE = re.compile(r",\s+|,(?!\d)|\s+(?:but|so|because)\s+(?=\w)", re.IGNORECASE)
_EN_EMBEDDED = re.compile(
    r"^\s*(?:and\s+|or\s+)?(?:whether|if)\b|"
    r"\b(?:want(?:ed)? to|'d like to|would like to|need to|hope to|don't|do not|not|"
    r"wonder(?:ing)?|ask(?:ing)?|tell (?:me|us)|clarify|confused about|unclear about|unsure|not sure|"
    r"worried about|understand)\s+(?:\w+\s+){0,3}?(?:whether|if|how|what|when|where|which|who|why)\b",
    re.IGNORECASE,
)
"""An English clause that asks without opening as a question ("we'd like to know what …", "whether …")."""


def is_long(text: str) -> bool:
    """True for a message with background around its question ("老师您好，我是四川的考生家长，……")."""
    words, chinese = LONG_MESSAGE
    return len(CJK.findall(text)) > chinese or (not CJK.search(text) and len(text.split()) > words)


def clauses(text: str) -> list[list[Piece]]:
    """A message's sentences, each as its clauses; a clause `asks` when it carries a question ("不太清楚四川
    今年能招多少人", "we don't know whether there's a minimum score")."""
    sentences: list[list[Piece]] = []
    for sentence in _sentences(text):
        pattern = _CLAUSE_COMMA if CJK.search(sentence) else _EN_CLAUSE
        parts = [c for c in pattern.split(sentence) if c.strip(_EDGE)]
        ends_asking = sentence.rstrip()[-1:] in "?？"
        pieces = [
            # After a comma, "which is exciting" and "who wants to be a doctor" describe; they do not ask.
            Piece(
                c.strip(),
                (asks(c) and (n == 0 or ends_asking or bool(CJK.search(c)))) or bool(_EN_EMBEDDED.search(c)),
            )
            for n, c in enumerate(parts)
        ]
        if pieces and ends_asking and not any(p.asks for p in pieces):
            pieces[-1] = Piece(pieces[-1].text, True)
        if pieces:
            sentences.append(pieces)
    return sentences


def _numbered_items(text: str) -> tuple[str, list[str]] | None:
    """(preamble, items) of a list numbered 1, 2, 3 … (or ①, ②, ③ …), or None."""
    marks = list(_NUMBER_MARK.finditer(text))
    numbers = [int(m.group(1)) if m.group(1) else ord(m.group(2)) - ord("①") + 1 for m in marks]
    # Take the longest run 1, 2, 3 … from the first "1"; other numbers ("2.5万") stay inside an item.
    run: list[re.Match] = []
    for mark, number in zip(marks, numbers, strict=True):
        if number == len(run) + 1:
            run.append(mark)
    if len(run) < 2:
        return None
    ends = [m.start() for m in run[1:]] + [len(text)]
    items = [text[m.end() : end] for m, end in zip(run, ends, strict=True)]
    return text[: run[0].start()], items


def _sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE_END.split(text) if s and s.strip()]


def _split_sentence(sentence: str) -> list[Piece]:
    """One sentence as one or more pieces: a topic list, questions joined by connectors or commas."""
    if _QUOTED.search(sentence):
        return [Piece(sentence, asks(sentence))]  # "what is the 'one programme, two schools' model" is one
    topics = _topic_list(sentence)
    if topics:
        return [Piece(t, asks(t), True) for t in topics]
    pieces: list[Piece] = []
    for chunk, after_connector in _split_at_connectors(sentence):
        clauses = _split_at_commas(chunk)
        pieces += [Piece(c, asks(c), after_connector and n == 0) for n, c in enumerate(clauses)]
    return pieces


def _topic_list(sentence: str) -> list[str]:
    """The items of a list of short topics ("学费、学制、招多少人", "fees, duration and intake"), or []."""
    body = sentence.strip(_EDGE)
    if CJK.search(body):
        if "、" not in body:
            return []
        items = _LIST_COMMA.split(body)
        # "学费、学制和招生人数": the last item may be joined by 和 / 以及.
        last = _ZH_LAST_ITEM.split(items[-1])
        if len(last) == 3 and last[0].strip() and last[2].strip():
            items[-1:] = [last[0], last[2]]
        short = all(
            0 < len(CJK.findall(i)) + len(re.findall(r"[A-Za-z]+", i)) <= TOPIC_MAX_CJK for i in items
        )
    else:
        # An English list ends "… and intake", or has three items and a question mark; "Dear teacher, good
        # morning" and "Who designs it, CQMU or Leicester?" are not lists.
        if "," not in body:
            return []
        items = _EN_LIST.split(body)
        if not (re.search(r"\sand\s+\S+$", body) or (len(items) >= 3 and sentence.rstrip()[-1:] in "?？")):
            return []
        short = all(0 < len(i.split()) <= TOPIC_MAX_WORDS for i in items)
    items = [i.strip(_EDGE) for i in items]
    return items if len(items) >= 2 and short and all(items) else []


def _split_at_connectors(sentence: str) -> list[tuple[str, bool]]:
    """(chunk, came after a connector) pieces, cut where a connector starts another question."""
    if CJK.search(sentence):
        return _split_zh_connectors(sentence)
    chunks: list[tuple[str, bool]] = []
    start, after = 0, False
    for found in _EN_CONNECTOR.finditer(sentence):
        rest = sentence[found.end() :]
        long_enough = len(rest.split()) >= MIN_WORDS  # "…, and where?" leans on the question before it
        before = sentence[start : found.start()]
        whole = asks(before) and len(before.split()) >= MIN_WORDS  # "does fudan also have …" is one question
        topic = _is_topic(before)
        if start < found.start() and long_enough and _EN_OPENER.match(rest) and (whole or topic):
            chunks.append((before, after or topic))
            start, after = found.end(), True
    chunks.append((sentence[start:], after))
    return chunks


def _is_topic(text: str) -> bool:
    """A short noun phrase standing for a question in chat ("fee per year", "the quota")."""
    body = text.strip(_EDGE)
    words = body.split()
    return 0 < len(words) <= TOPIC_MAX_WORDS and not _HEADED_START.match(body) and not asks(body)


_HEADED_START = re.compile(r"^(?:i|we|my|our|he|she|they|it|this|that|there)\b", re.IGNORECASE)


def _split_zh_connectors(sentence: str) -> list[tuple[str, bool]]:
    """Cut before 另外 / 还有 / 以及 … after a comma or a finished question ("学费多少还有学制几年");
    "今年还有名额吗" and "需不需要另外报名" stay whole."""
    chunks: list[tuple[str, bool]] = []
    start, after = 0, False
    for found in _ZH_CONNECTOR.finditer(sentence):
        before = sentence[start : found.start()]
        rest = sentence[found.end() :]
        after_comma = before.rstrip(" ")[-1:] in ("，", ",", "、", " ")
        finished = bool(_ZH_QUESTION_END.search(before.strip(_EDGE))) and asks(rest)
        if before.strip(_EDGE) and len(CJK.findall(rest)) >= MIN_CJK and (after_comma or finished):
            chunks.append((before, after))
            start, after = found.end(), True
    chunks.append((sentence[start:], after))
    return chunks


def _split_at_commas(chunk: str) -> list[str]:
    """Cut at commas only between two questions ("学费多少，学制几年", "what's the fee, how long is it");
    other commas join clauses ("what if I fail, do I …", "In 2020, how many places …" are one)."""
    if not CJK.search(chunk):
        return _split_english_commas(chunk)
    cuts = [0]
    for comma in _CLAUSE_COMMA.finditer(chunk):
        before, clause = chunk[cuts[-1] : comma.start()], chunk[comma.end() :]
        following = _CLAUSE_COMMA.split(clause, maxsplit=1)[0]
        # "是单独报名，还是在志愿里填？" is one question with two choices.
        choice = following.lstrip().startswith(_ZH_OR)
        if before.strip(_EDGE) and asks(before) and asks(following) and not choice:
            cuts.append(comma.end())
    return [chunk[a:b] for a, b in zip(cuts, [*cuts[1:], len(chunk)], strict=True)]


_EN_ASKS_FIRST = re.compile(
    r"^(what's|whats|what is|what are|how|where|when|which|who|is|are|do|does|can|will)\s", re.IGNORECASE
)
"""An English question that opens at once; "what if …", "if …", "in 2020, …" lead into the question instead."""


_EN_COMMA = re.compile(r",\s*")


def _split_english_commas(chunk: str) -> list[str]:
    """Cut where a comma stands between two whole English questions ("What's the tuition, how long is it?")."""
    cuts = [0]
    for comma in _EN_COMMA.finditer(chunk):
        before, rest = chunk[cuts[-1] : comma.start()].strip(_EDGE), chunk[comma.end() :]
        following = _EN_COMMA.split(rest, maxsplit=1)[0]
        if (
            _EN_ASKS_FIRST.match(_EN_LEAD.sub("", before))
            and len(before.split()) >= MIN_WORDS
            and _EN_OPENER.match(following)
            and len(following.split()) >= MIN_WORDS
        ):
            cuts.append(comma.end())
    return [chunk[a:b] for a, b in zip(cuts, [*cuts[1:], len(chunk)], strict=True)]


_PAIR = re.compile(
    r"^(?P<lead>{lead})?(?P<left>.+?)(?:\s+and\s+|\s*(?:和|及|以及|与)\s*)(?P<right>.+?)$".format(
        lead=r"what are the\s+|what is the\s+|what's the\s+|what about the\s+|what about\s+|how about\s+|"
        r"tell me about\s+|"
        r"请问一下|请问|想了解一下|想了解|想问一下|想问|想知道"
    ),
    re.IGNORECASE,
)
_COMPARES = re.compile(
    r"一样|相同|不同|区别|差别|差异|相比|比较|哪个|哪一个|各|分别|都|"
    r"\b(same|different|difference|differ|compared?|versus|vs|between|both|which|each|either|or)\b",
    re.IGNORECASE,
)
_HEADED = re.compile(r"\b(of|for|in|at|to|with|from|about|on)\b|的", re.IGNORECASE)
PAIR_LEFT_MAX = (3, 5)
PAIR_RIGHT_MAX = (4, 8)
"""The most (English words, Chinese characters) a topic of a pair may have: "fees and scholarships",
"学费和学制"; longer sides are one question about two things ("Is it recognised in China and the UK?")."""


def topic_pair(text: str) -> list[str]:
    """Two short topics joined by "and" / 和 ("tuition and duration?", "学费和奖学金"), or []. Whether each is
    a question of its own the dialogue decides, by reading both."""
    body = text.strip(_EDGE)
    found = None if _COMPARES.search(body) else _PAIR.match(body)
    if found is None:
        return []  # "毕业证和普通临床一样吗" compares the two: one question
    left, right = found.group("left").strip(_EDGE), found.group("right").strip(_EDGE)
    if not (_short(left, PAIR_LEFT_MAX) and _short(right, PAIR_RIGHT_MAX)):
        return []
    if _EN_OPENER.match(left) or _HEADED.search(left):
        return []  # "why did CQMU and Leicester …", "list of provinces and places": one question about both
    lead = found.group("lead") or ""
    return [f"{lead}{left}".strip(), right]


def _short(text: str, most: tuple[int, int]) -> bool:
    if CJK.search(text):
        return 0 < len(CJK.findall(text)) + len(re.findall(r"[A-Za-z]+", text)) <= most[1]
    return 0 < len(text.split()) <= most[0]
