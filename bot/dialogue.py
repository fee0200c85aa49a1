"""The conversation: small talk, menus, "did you mean" numbers, follow-ups in context, declines."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from bot.corpus import LANGS, Corpus, Entry, Problem, read_yaml, strip_lines
from bot.matcher import Candidate, Evidence, Match, Matcher
from bot.questions import MAX_QUESTIONS, Piece, clauses, is_long, split_message, topic_pair
from bot.text import CJK, TextNormaliser, detect_language, utf8_len
from bot.wechat import split_reply

REPLY_KEYS = (
    "greeting",
    "thanks",
    "goodbye",
    "identity",
    "help",
    "human",
    "human_transfer",
    "suggest",
    "decline",
    "more_hint",
    "nothing_more",
    "welcome",
    "voice_unrecognised",
    "unsupported",
    "rate_limited",
    "error",
    "part_heading",
    "part_decline",
    "part_contact",
    "emoticon",
)
REPLY_FIELDS = {"part_heading": ("question",)}
"""Placeholders a reply may use besides {phone} and {email}."""
SMALLTALK_MAX_CHARS = 60
"""Small talk is short; a longer message is a question even if it opens with a greeting."""
_LATIN_RUN = re.compile(r"[0-9a-z]+")
SMALLTALK_ORDER = ("human", "help", "identity", "goodbye", "thanks", "greeting")
_PINYIN_BREAK = re.compile(r"[,，;；?？]+")
FOLLOW_UP_START = re.compile(
    r"^(那|那么|那个|还有|再问|and|what about|how about|also|then)\b|^(那|那么|还有)"
)
FOLLOW_UP_END = re.compile(r"(呢|嘞|咧)$")
FOLLOW_UP_TOO = re.compile(r"\b(too|as well)\W*$")
"""An English follow-up that asks the last question again of something else: "at Leicester too?"."""
FOLLOW_UP_POINTER = re.compile(r"\b(them|those|these|they|it|that one)\b|其中|他们|她们|它们|这些|那些")
POINTS_BACK = re.compile(r"\b(its|it's)\b|(?<![a-z])(it|there)[?.!]*$|它|这个呢|那个呢")
"""A part of a message about what the part before it named: "what does it cost", "how do I apply there?"."""
ONLY_ASKING = frozenset(
    {"多久", "多少", "多长", "多长时间", "几", "几年", "多少钱", "怎么办", "怎么样", "怎样", "如何"}
    | {"cost", "long", "much", "many"}
)
"""Words that ask without naming what about: a part made only of them leans on the part before."""
PRICE_ONLY = re.compile(
    r"^(?:大概|大约|一共|总共|要|需要|得|还)*(?:花|交|付)?(?:多少钱|多少|几多钱)(?:啊|呀|呢|吗)?$"
)
"""A part asking only a price ("要花多少钱") is about what the part before it named, not tuition."""
PAIR_GAP = 10.0
"""How far the third entry must trail the second for the top two to be a pair rather than a wider choice."""
PAIR_MAX_BYTES = 1800
"""Two answers given together fit one WeChat reply (2,047 bytes) with their headings."""
PLACE_WORDS = frozenset({"leicester", "cqmu", "英国"})
"""The programme's places as the index stores them: a follow-up naming only one asks the last question there."""
_EDGE_MARKS = " ?？!！。.,，"
SURE_ON_ITS_OWN = 80.0
"""A follow-up that the matcher answers this surely on its own keeps its own answer."""
FOLLOW_UP_MAX_CHARS = 14
NUMBER_CHOICE = re.compile(r"^(?:第)?([1-9])(?:个|条|号)?$")
MAX_OFFERED = 9
"""Numbers 1 to 9 choose an offered entry; a reply never offers more."""
PART_BREAK = "\n\n"
QUOTED_MAX_CHARS = 60


@dataclass(frozen=True)
class Suggestion:
    """An entry offered as "did you mean" or on the menu."""

    id: str
    question: str


@dataclass(frozen=True)
class Part:
    """One question of a message that asks several, and what the bot made of it (each is logged)."""

    question: str
    kind: str  # answer | suggest | decline
    faq_id: str | None = None
    confidence: float = 0.0
    entity: str | None = None
    best_id: str | None = None

    @property
    def matched(self) -> bool:
        """True when the part got an FAQ entry's answer."""
        return self.kind == "answer"


@dataclass(frozen=True)
class Reply:
    """What the bot says to one message, and why."""

    text: str
    kind: str  # answer | suggest | decline | smalltalk | menu | human | more
    lang: str
    faq_id: str | None = None
    confidence: float = 0.0
    suggestions: tuple[Suggestion, ...] = ()
    entity: str | None = None
    best_id: str | None = None
    continued: bool = False
    parts: tuple[Part, ...] = ()  # the questions of a message that asks several, in order

    @property
    def matched(self) -> bool:
        """True only when the text is (or, for several questions, includes) an FAQ entry's answer."""
        return self.kind == "answer"

    def asked(self) -> tuple[Part, ...]:
        """The questions this reply answers, suggests or declines: its parts, or itself as one part."""
        if self.parts:
            return self.parts
        if self.kind in ("answer", "suggest", "decline"):
            return (Part("", self.kind, self.faq_id, self.confidence, self.entity, self.best_id),)
        return ()


@dataclass
class Conversation:
    """What the bot remembers of a session between messages."""

    lang: str | None = None
    last_entry: str | None = None
    last_entity: str | None = None
    last_question: str | None = None
    offered: list[str] = field(default_factory=list)
    more: list[str] = field(default_factory=list)

    @classmethod
    def from_state(cls, state: Mapping | None) -> Conversation:
        """Rebuild from stored state, tolerating missing or foreign keys."""
        state = state or {}
        return cls(
            lang=state.get("lang"),
            last_entry=state.get("last_entry"),
            last_entity=state.get("last_entity"),
            last_question=state.get("last_question"),
            offered=[str(x) for x in state.get("offered") or []][:9],
            more=[str(x) for x in state.get("more") or []][:20],
        )

    def to_state(self) -> dict:
        """A JSON-able snapshot for storage."""
        return {
            "lang": self.lang,
            "last_entry": self.last_entry,
            "last_entity": self.last_entity,
            "last_question": self.last_question,
            "offered": self.offered,
            "more": self.more,
        }


class DialogueTexts:
    """The words of dialogue.yaml: small-talk phrases, menu ids and reply templates."""

    def __init__(self, data: Mapping, phone: str, email: str, normalise) -> None:
        self.menu: tuple[str, ...] = tuple(str(x) for x in data.get("menu") or [])
        self._replies = {k: dict(v) for k, v in (data.get("replies") or {}).items() if isinstance(v, Mapping)}
        self._contact = {"phone": phone, "email": email}
        self.smalltalk: dict[str, set[str]] = {}
        for kind, langs in (data.get("smalltalk") or {}).items():
            phrases = {normalise(str(p)) for lang in LANGS for p in (langs or {}).get(lang) or []}
            self.smalltalk[kind] = {p for p in phrases if p}
        self.more = {normalise(str(p)) for lang in LANGS for p in (data.get("more") or {}).get(lang) or []}
        phrases = sorted({p for ps in self.smalltalk.values() for p in ps}, key=len, reverse=True)
        self._any_phrase = re.compile(
            "|".join(rf"(?<![0-9a-z]){re.escape(p)}(?![0-9a-z])" for p in phrases) or "(?!)"
        )
        # A message made only of phrases and filler uses only their Latin words and their other characters.
        allowed = [*phrases, *_FILLER]
        self._allowed_words = {w for text in allowed for w in _LATIN_RUN.findall(text)}
        self._allowed_characters = {c for text in allowed for c in _LATIN_RUN.sub("", text)} | {" "}

    @classmethod
    def load(cls, path: Path, phone: str, email: str, normalise) -> DialogueTexts:
        """Read dialogue.yaml; the corpus validator reports its problems."""
        data, _ = read_yaml(path)
        return cls(strip_lines(data) or {}, phone, email, normalise)

    def say(self, key: str, lang: str, **fields: str) -> str:
        """A reply template in the language, with the contact details (and any other fields) filled in."""
        texts = self._replies.get(key, {})
        template = texts.get(lang) or texts.get("en") or ""
        return template.format(**self._contact, **fields)

    def smalltalk_kind(self, normal: str) -> str | None:
        """The kind of small talk when the message is nothing but small-talk phrases (longest phrases first)."""
        if not normal or len(normal) > SMALLTALK_MAX_CHARS:
            return None
        if not self._allowed_words.issuperset(_LATIN_RUN.findall(normal)):
            return None
        if not self._allowed_characters.issuperset(_LATIN_RUN.sub("", normal)):
            return None
        matched = [m.group() for m in self._any_phrase.finditer(normal)]
        rest = self._any_phrase.sub(" ", normal).strip()
        if not matched or (rest and not all(w in _FILLER for w in rest.split())):
            return None
        kinds = {kind for kind, phrases in self.smalltalk.items() for p in matched if p in phrases}
        return next((kind for kind in SMALLTALK_ORDER if kind in kinds), None)


_FILLER = frozenset(
    "a the so very much you your u 你 您 啊 呀 哈 哈哈 呢 吧 了 的 嗯 哦 老师 please pls yes".split()  # noqa: SIM905
)


def _joined(texts: list[str]) -> str:
    """Pieces of one question put back together ("重庆", "四川各招多少" -> "重庆、四川各招多少")."""
    return ("、" if any(CJK.search(t) for t in texts) else ", ").join(t.strip() for t in texts)


SHORT_CLAUSE = (4, 6)


def _short_clause(text: str) -> bool:
    """A clause too short to carry its own subject ("真的是这样吗", "is that true?")."""
    chinese = len(CJK.findall(text))
    return chinese <= SHORT_CLAUSE[1] if chinese else len(text.split()) <= SHORT_CLAUSE[0]


def _quoted(question: str) -> str:
    """The asker's words, cut short, to name a question the bot could not answer."""
    text = " ".join(question.split())
    return text if len(text) <= QUOTED_MAX_CHARS else text[: QUOTED_MAX_CHARS - 1] + "…"


def _pages(blocks: list[str], limit: int) -> list[str]:
    """Whole blocks (the answers to the questions of one message) on as few pages of `limit` bytes as
    possible; a block longer than a page is cut at sentences."""
    pages: list[str] = []
    for block in blocks:
        joined = f"{pages[-1]}{PART_BREAK}{block}" if pages else block
        if pages and utf8_len(joined) <= limit:
            pages[-1] = joined
        elif utf8_len(block) <= limit:
            pages.append(block)
        else:
            pages += split_reply(block, limit)
    return pages


def _reading_key(match: Match) -> tuple | None:
    """What a reading comes to: two questions with the same key get one answer."""
    if match.decision == "answer" and match.best is not None:
        return ("answer", match.best.entry.id, match.entity)
    if match.decision == "suggest":
        return ("suggest", tuple(c.entry.id for c in match.candidates[:3]))
    return None


def check_dialogue_texts(path: Path, corpus: Corpus) -> list[Problem]:
    """Problems in dialogue.yaml: unknown menu ids, replies missing a language."""
    if not path.exists():
        return [Problem(path.name, 0, "dialogue.yaml is missing; the bot needs its small talk and replies")]
    data, problems = read_yaml(path)
    if problems:
        return problems
    ids = corpus.by_id()
    lines = data.get("__lines__", {}) if isinstance(data, dict) else {}
    plain = strip_lines(data) or {}
    if not isinstance(plain, dict):
        return [Problem(path.name, 0, "dialogue.yaml must be a mapping of menu, smalltalk and replies")]
    for entry_id in plain.get("menu") or []:
        if entry_id not in ids:
            problems.append(
                Problem(path.name, lines.get("menu", 0), f"menu names unknown entry id {entry_id!r}")
            )
    replies = plain.get("replies") or {}
    for key in REPLY_KEYS:
        for lang in LANGS:
            if not str((replies.get(key) or {}).get(lang) or "").strip():
                problems.append(
                    Problem(path.name, lines.get("replies", 0), f"replies.{key}.{lang} is missing")
                )
    for key, texts in replies.items() if isinstance(replies, dict) else ():
        fields = dict.fromkeys(("phone", "email", *REPLY_FIELDS.get(key, ())), "")
        for lang, template in texts.items() if isinstance(texts, dict) else ():
            try:
                str(template).format(**fields)
            except (KeyError, IndexError, ValueError) as exc:
                allowed = " and ".join("{" + name + "}" for name in fields)
                problems.append(
                    Problem(
                        path.name,
                        lines.get("replies", 0),
                        f"replies.{key}.{lang} has a placeholder other than {allowed}: {exc}",
                    )
                )
    return problems


class Dialogue:
    """Turns one message plus the remembered conversation into a reply; knows nothing of HTTP or XML."""

    def __init__(self, matcher: Matcher, texts: DialogueTexts, normaliser: TextNormaliser) -> None:
        self.matcher = matcher
        self.texts = texts
        self.normaliser = normaliser
        self.entries = matcher.corpus.by_id()
        self._number = {entry.id: number for number, entry in enumerate(matcher.corpus.entries)}

    def respond(
        self, text: str, convo: Conversation, lang_hint: str | None = None, max_bytes: int | None = None
    ) -> Reply:
        """The reply to one message; `convo` is updated in place for the next turn."""
        normal = self.normaliser.normalise(text)
        lang = self._language(text, normal, convo, lang_hint)
        reply = (
            (self._wordless(text, convo, lang) if not normal else None)
            or self._continue(normal, convo, lang)
            or self._choice(normal, convo, lang)
            or self._smalltalk(normal, convo, lang)
            or self._answer(text, normal, convo, lang)
        )
        if max_bytes is not None and reply.kind != "more":
            reply = self._paginate(reply, convo, max_bytes)
        convo.lang = reply.lang
        return reply

    def _wordless(self, text: str, convo: Conversation, lang: str) -> Reply:
        """A message of only emoticons gets a friendly word and the menu; punctuation alone gets the menu."""
        friendly = self.normaliser.emoticons.found_in(text)
        return self.menu(convo, lang, "emoticon" if friendly else "help")

    def _language(self, text: str, normal: str, convo: Conversation, hint: str | None) -> str:
        if detect_language(normal) == "zh":
            return "zh"
        if re.search("[a-z]", normal):
            query = self.matcher.analyse(text)
            return query.lang
        return convo.lang or (hint if hint in LANGS else "en")

    def _continue(self, normal: str, convo: Conversation, lang: str) -> Reply | None:
        if normal not in self.texts.more:
            return None
        if not convo.more:
            return Reply(self.texts.say("nothing_more", lang), "more", lang)
        part = convo.more.pop(0)
        if convo.more:
            part = f"{part}\n{self.texts.say('more_hint', lang)}"
        return Reply(part, "more", lang, faq_id=convo.last_entry, continued=bool(convo.more))

    def _choice(self, normal: str, convo: Conversation, lang: str) -> Reply | None:
        found = NUMBER_CHOICE.match(normal)
        # Entries offered before a reload that removed them are no longer on offer.
        convo.offered = [entry_id for entry_id in convo.offered if entry_id in self.entries]
        if found and not convo.offered:
            return self.menu(convo, lang, "help")
        if found and convo.offered:
            number = int(found.group(1))
            if number <= len(convo.offered):
                entry_id = convo.offered[number - 1]
                return self._entry_reply(
                    entry_id, convo, lang, None, 100.0, self.entries[entry_id].question[lang]
                )
        for entry_id in convo.offered:
            entry = self.entries.get(entry_id)
            if entry and normal in {self.normaliser.normalise(entry.question[x]) for x in LANGS}:
                return self._entry_reply(entry_id, convo, lang, None, 100.0, entry.question[lang])
        return None

    def _smalltalk(self, normal: str, convo: Conversation, lang: str) -> Reply | None:
        kind = self.texts.smalltalk_kind(normal)
        if kind is None:
            return None
        if kind == "help":
            return self.menu(convo, lang, "help")
        if kind == "human":
            return Reply(self.texts.say("human", lang), "human", lang)
        return Reply(self.texts.say(kind, lang), "smalltalk", lang)

    def menu(self, convo: Conversation, lang: str, intro: str = "help") -> Reply:
        """The numbered menu of popular topics; the numbers work as replies."""
        items = tuple(
            Suggestion(i, self.entries[i].question[lang]) for i in self.texts.menu if i in self.entries
        )
        convo.offered = [s.id for s in items]
        convo.lang = lang
        lines = [self.texts.say(intro, lang)] + [f"{n}. {s.question}" for n, s in enumerate(items, 1)]
        return Reply("\n".join(lines), "menu", lang, suggestions=items)

    def _answer(self, text: str, normal: str, convo: Conversation, lang: str) -> Reply:
        questions, background = self._questions(text)
        if len(questions) >= 2:
            reply = self._answer_each(questions, text, background, convo, lang)
            if reply is not None:
                return reply
        return self._answer_pair(text, convo, lang) or self._answer_one(text, normal, convo, lang)

    def _answer_pair(self, text: str, convo: Conversation, lang: str) -> Reply | None:
        """Two short topics joined by "and" / 和 ("tuition and duration?", "学费和奖学金") get both answers, when
        each is an entry's clear answer on its own; "重庆和四川" and "China and the UK" stay one question."""
        pair = topic_pair(text)
        # A bare place on one side ("重庆和四川招多少", "Chongqing and Sichuan quota") is one question about both.
        if not pair or any(self._bare_name(side) for side in pair):
            return None
        readings = self._read_each(pair, text, "", convo)
        answered = [m.best.entry.id for _, m in readings if m.decision == "answer" and m.best is not None]
        if len(answered) != 2 or answered[0] == answered[1]:
            return None
        return self._compose(readings, convo, lang)

    def _bare_name(self, text: str) -> bool:
        query = self.matcher.analyse(text)
        return bool(query.spotted.found) and not [w for w in query.tokens.words if w not in _FILLER]

    def _answer_one(self, text: str, normal: str, convo: Conversation, lang: str) -> Reply:
        match = self._read(text, normal, convo)
        if match.decision != "answer" and not self.matcher.out_of_scope_terms(match.query):
            # The asking clauses with the places named (a province question), then without them ("我是山东一所高中的
            # 老师" is background to a question about degrees).
            for focus in self._focuses(text):
                focused = self._read(focus, self.normaliser.normalise(focus), convo)
                if focused.decision == "answer":
                    match = focused
                    break
        if match.decision == "answer" and match.best is not None:
            return self._entry_reply(match.best.entry.id, convo, lang, match.entity, match.confidence, text)
        if match.decision == "suggest":
            both = self._close_pair(match, lang)
            if both is not None:
                return self._compose([(text, m) for m in both], convo, lang)
            fuller = self.matcher.fuller_of_the_same(match)
            if fuller is not None and fuller.best is not None:
                return self._entry_reply(
                    fuller.best.entry.id, convo, lang, fuller.entity, fuller.confidence, text
                )
            items = self._suggestions(match, lang)
            convo.offered = [s.id for s in items]
            lines = [self.texts.say("suggest", lang)] + [f"{n}. {s.question}" for n, s in enumerate(items, 1)]
            best = match.best.entry.id if match.best else None
            return Reply("\n".join(lines), "suggest", lang, None, match.confidence, items, best_id=best)
        best = match.best.entry.id if match.best else None
        return Reply(self.texts.say("decline", lang), "decline", lang, None, match.confidence, best_id=best)

    def _focuses(self, text: str) -> tuple[str, ...]:
        """A long message's question without its background: the clauses that ask with those that name a place
        ("我是四川的考生家长"), then the asking clauses alone; a clause that asks nothing of its own
        ("真的是这样吗？") keeps the claim before it. Empty for a short message; a reading that leaves nothing
        out is not given."""
        if not is_long(text):
            return ()
        with_places: list[str] = []
        asking: list[str] = []
        for sentence in clauses(text):
            for n, piece in enumerate(sentence):
                query = self.matcher.analyse(piece.text)
                if piece.asks:
                    own = [w for w in query.tokens.words if w not in _FILLER]
                    bare = (not own and not query.tokens.unknown) or _short_clause(piece.text)
                    pieces = [p.text for p in sentence[: n + 1]] if bare else [piece.text]
                    with_places += pieces
                    asking += pieces
                elif query.spotted.found:
                    with_places.append(piece.text)
        focuses = []
        for kept in (with_places, asking):
            kept = list(dict.fromkeys(kept))
            focus = _joined(kept)
            if kept and len(focus) < len(text) * 0.8 and focus not in focuses:
                focuses.append(focus)
        return tuple(focuses)

    def _read(self, text: str, normal: str, convo: Conversation, next_turn: bool = True) -> Match:
        """The matcher's verdict on a question, read with the previous topic when it cannot stand alone."""
        match = self.matcher.match(text)
        if self.matcher.out_of_scope_terms(match.query):
            return match  # "what about Tsinghua's ranking?" is about something else, whatever came before
        if (
            match.decision in ("answer", "suggest")
            and convo.last_question
            and self._asks_the_last_about_a_place(normal, match)
        ):
            # "And at Leicester?" after the fee asks the fee at Leicester, not about the university.
            place = FOLLOW_UP_END.sub("", FOLLOW_UP_START.sub("", normal))
            there = self.matcher.match(f"{convo.last_question.strip(_EDGE_MARKS)} {place}")
            pair = there.decision == "suggest" and self._close_pair(there, match.query.lang) is not None
            if there.best is not None and (there.decision == "answer" or pair):
                return there
        if self._narrows_the_last_answer(normal, match, convo):
            previous = self.entries[convo.last_entry or ""]
            best = Candidate(previous, 100.0, Evidence(1.0, 1.0, 1.0, 1.0))
            match = Match("answer", match.query, (best,), convo.last_entity)
        elif match.decision != "answer" and convo.last_entry:
            # Within one message each part asks its own question; across turns the topic carries over.
            settled = (
                self._settled_by_the_topic(match, self.entries.get(convo.last_entry)) if next_turn else None
            )
            match = settled or self._in_context(text, normal, convo, match)
        if (
            match.decision == "answer"
            and match.best is not None
            and not self.matcher.can_state(match.query, match.best)
        ):
            # "一个多少钱" after the scholarships asks an amount that answer never states, whatever came before.
            return Match("decline", match.query, match.candidates)
        return match

    def _asks_the_last_about_a_place(self, normal: str, alone: Match) -> bool:
        """True for a short follow-up naming only one of the programme's places ("and at Leicester?", "那英国呢")."""
        compact = normal.replace(" ", "")
        marked = (
            FOLLOW_UP_START.search(normal) or FOLLOW_UP_END.search(compact) or FOLLOW_UP_TOO.search(normal)
        )
        if not marked or len(compact) > FOLLOW_UP_MAX_CHARS * (3 if alone.query.lang == "en" else 1):
            return False
        content = [w for w in alone.query.tokens.words if w not in _FILLER and w not in ("too", "well")]
        return bool(content) and set(content) <= PLACE_WORDS and not alone.query.tokens.unknown

    def _narrows_the_last_answer(self, normal: str, alone: Match, convo: Conversation) -> bool:
        """True for a follow-up about a detail of the answer just given: every word of it is in that answer,
        though on its own it reads as another question. After a province's quota, "理科呢？"; after the
        teaching staff, "how many of them have doctoral degrees?" or "and how many studied overseas?"."""
        previous = self.entries.get(convo.last_entry or "")
        if previous is None or alone.query.spotted.found or alone.query.tokens.unknown:
            return False
        compact = normal.replace(" ", "")
        marked = FOLLOW_UP_START.search(normal) or FOLLOW_UP_END.search(compact)
        words = [w for w in alone.query.tokens.words if w not in _FILLER]
        if not convo.last_entity:
            # Without a place to narrow, the message must open as a follow-up ("and how many ...?") or point
            # back ("how many of them ..."), and neither outweighs a sure answer of its own.
            sure = alone.decision == "answer" and alone.confidence >= SURE_ON_ITS_OWN
            marked = (marked or FOLLOW_UP_POINTER.search(normal)) and not sure
        pointer = FOLLOW_UP_POINTER.search(normal)
        if convo.last_entity and pointer:
            marked = True  # "how many of those are for the literature track?" after Chongqing's quota
        reach = (3 if alone.query.lang == "en" else 1) * (2 if pointer and convo.last_entity else 1)
        short = len(compact) <= FOLLOW_UP_MAX_CHARS * reach
        if not (marked and short and words):
            return False
        answer = self.normaliser.normalise(previous.answer_for(alone.query.lang, convo.last_entity))
        if convo.last_entity:
            stated = set(self.matcher.analyse(answer).tokens.words)
            if pointer:  # "how many of those …": the asking words need not be in the answer, the topic must
                words = [
                    w
                    for w in words
                    if not self.matcher.is_common_word(w) and not FOLLOW_UP_POINTER.fullmatch(w)
                ]
            return bool(words) and all(w in answer or w in stated for w in words)
        # Words many entries use ("how", "many", "多少", "Leicester") may be missing; every telling one is there.
        telling = [w for w in words if not self.matcher.is_common_word(w)]
        if not telling and alone.decision == "answer":
            return False  # "and years 1 to 3?" after year 5: only common words, and an answer of its own
        return all(w in answer for w in telling) and any(w in answer for w in words)

    def _close_pair(self, match: Match, lang: str) -> tuple[Match, Match] | None:
        """Both answers, when the two best entries are each a confident answer and only their order is close.

        "How much is the tuition for the Leicester programme?" is as near the CQMU fee as the Leicester-year
        fee; a family is better served by both short answers, each under its own question, than by a list to
        choose from. A real ambiguity (a third close entry, a weak pair) still gets the list.
        """
        s = self.matcher.settings
        candidates = match.candidates
        if len(candidates) < 2 or candidates[1].confidence < s.pair_threshold:
            return None
        if len(candidates) > 2 and candidates[2].confidence > candidates[1].confidence - PAIR_GAP:
            return None  # "英语": the requirement, the first-year support and the teaching language all fit
        pair = tuple(
            Match("answer", match.query, (c,), match.query.spotted.key_for(c.entry.variant_entity))
            for c in candidates[:2]
        )
        texts = [m.best.entry.answer_for(lang, m.entity) for m in pair if m.best is not None]
        if utf8_len("\n".join(texts)) > PAIR_MAX_BYTES:
            return None
        return pair[0], pair[1]

    def _offered_ids(self, match: Match) -> set[str]:
        return {s.id for s in self._suggestions(match, "en")}

    def _suggestions(self, match: Match, lang: str) -> tuple[Suggestion, ...]:
        return tuple(
            Suggestion(c.entry.id, c.entry.question[lang])
            for c in match.candidates[: self.matcher.settings.max_suggestions]
            if c.confidence >= self.matcher.settings.suggest_threshold
        )

    def _questions(self, text: str) -> tuple[list[str], str]:
        """The questions of a message worth answering one by one (not small talk, not a bare place name: a
        name joins the question after it, "重庆、四川、河南各招多少人" stays one question), and the other
        sentences that name a place (background such as "我是河南的")."""
        pieces = split_message(self.normaliser.emoticons.remove(text))
        if len(pieces) == 1 and self.matcher.analyser.tokeniser.read_pinyin(self.normaliser.normalise(text)):
            # Pinyin has no question marks or question words to split by: "xuefei duoshao, yingyu yao ji fen".
            pieces = [Piece(p, True) for p in _PINYIN_BREAK.split(text) if p.strip(" .!")]
        if not 2 <= sum(piece.is_question for piece in pieces) <= MAX_QUESTIONS:
            return [], ""  # one question (or none, or a long list): read the message whole, as it always was
        questions: list[str] = []
        names: list[str] = []
        background: list[str] = []
        for piece in pieces:
            query = self.matcher.analyse(piece.text)
            if not piece.is_question:
                if query.spotted.found:
                    background.append(piece.text)
                continue
            normal = self.normaliser.normalise(piece.text)
            if not normal or self.texts.smalltalk_kind(normal) or normal in self.texts.more:
                continue
            if not query.tokens.words and not query.tokens.unknown:
                if query.spotted.found:  # a bare name ("重庆、") belongs to the question after it
                    names.append(piece.text)
                continue  # nothing to answer: "还有呢？", "what else?"
            questions.append(_joined([*names, piece.text]))
            names = []
        if names and questions:
            questions[-1] = _joined([questions[-1], *names])
        return questions, "\n".join(background)

    def _answer_each(
        self, questions: list[str], text: str, background: str, convo: Conversation, lang: str
    ) -> Reply | None:
        """One reply to a message that asks several things: each question answered, offered or declined,
        in order. Questions that come to the same answer get it once; when none is answered the message is
        read as one question instead (None)."""
        readings = self._read_each(questions, text, background, convo)
        kept: list[tuple[str, Match]] = []
        seen: set[tuple] = set()
        for question, match in readings:
            key = _reading_key(match)
            if key is None or key not in seen:
                kept.append((question, match))
            if key is not None:
                seen.add(key)
        answered = {m.best.entry.id for _, m in kept if m.decision == "answer" and m.best is not None}
        if not answered:
            if any(self.matcher.out_of_scope_terms(m.query) for _, m in readings):
                # "Is there a pharmacy programme too? What's its quota?": read whole, it would be our quota.
                return Reply(self.texts.say("decline", lang), "decline", lang, None, 0.0)
            return None
        # A "did you mean" list that offers an entry answered above only repeats it.
        kept = [(q, m) for q, m in kept if m.decision != "suggest" or not answered & self._offered_ids(m)]
        if len(kept) == 1:
            question, match = kept[0]
            if match.decision != "answer" or match.best is None:
                return None
            entry_id = match.best.entry.id
            return self._entry_reply(entry_id, convo, lang, match.entity, match.confidence, question)
        return self._compose(kept, convo, lang)

    def _read_each(
        self, questions: list[str], text: str, background: str, convo: Conversation
    ) -> list[tuple[str, Match]]:
        """Each question read in turn; a later one may follow up an earlier ("重庆招多少？那四川呢？"), and a
        place named elsewhere in the message qualifies each ("我是河南的。招多少人？", "浙江能报吗，招几个")."""
        context = Conversation.from_state(convo.to_state())
        named = self.matcher.analyse(text).spotted
        readings: list[tuple[str, Match]] = []
        for question in questions:
            match = self._read_part(question, context, background)
            if readings and readings[-1][1].decision == "decline" and self._leans_on_the_last(question):
                # "Is there a nursing degree too, and what does it cost?": "it" is what was just declined.
                match = Match("decline", match.query, match.candidates)
            if match.decision == "answer" and match.best is not None and match.entity is None:
                match = replace(match, entity=named.key_for(match.best.entry.variant_entity))
            readings.append((question, match))
            if match.decision == "answer" and match.best is not None:
                context.last_entry, context.last_entity = match.best.entry.id, match.entity
                context.last_question = question
        return readings

    def _leans_on_the_last(self, question: str) -> bool:
        """True for a question that points back ("how do I apply for it?") or names nothing of its own ("要多久")."""
        normal = self.normaliser.normalise(question)
        if FOLLOW_UP_POINTER.search(normal) or POINTS_BACK.search(normal) or PRICE_ONLY.match(normal):
            return True
        query = self.matcher.analyse(question)
        own = [w for w in query.tokens.words if w not in _FILLER and w not in ONLY_ASKING]
        return not own and not query.tokens.unknown and not query.spotted.found

    def _read_part(self, question: str, context: Conversation, background: str) -> Match:
        if background and not self.matcher.analyse(question).spotted.found:
            # The matcher reads a message sentence by sentence, letting a place named in one qualify the others.
            qualified = f"{background}\n{question}"
            match = self._read(qualified, self.normaliser.normalise(qualified), context, next_turn=False)
            if match.decision == "answer":
                return match
        return self._read(question, self.normaliser.normalise(question), context, next_turn=False)

    def _compose(self, readings: list[tuple[str, Match]], convo: Conversation, lang: str) -> Reply:
        """The reply text: each question under its heading, the contacts once for those not answered."""
        blocks: list[str] = []
        parts: list[Part] = []
        offered: list[Suggestion] = []
        declined = False
        for question, match in readings:
            best_id = match.best.entry.id if match.best else None
            if match.decision == "answer" and match.best is not None:
                entry = match.best.entry
                heading = self.texts.say("part_heading", lang, question=entry.question[lang])
                blocks.append(f"{heading}\n{entry.answer_for(lang, match.entity)}")
                parts.append(
                    Part(question, "answer", entry.id, round(match.confidence, 1), match.entity, best_id)
                )
                convo.last_entry, convo.last_entity, convo.last_question = entry.id, match.entity, question
                continue
            heading = self.texts.say("part_heading", lang, question=_quoted(question))
            if match.decision == "suggest":
                items = self._suggestions(match, lang)
                lines = [heading, self.texts.say("suggest", lang)]
                items = items[: MAX_OFFERED - len(offered)]
                lines += [f"{n}. {s.question}" for n, s in enumerate(items, len(offered) + 1)]
                offered += items
                blocks.append("\n".join(lines))
            else:
                blocks.append(f"{heading}\n{self.texts.say('part_decline', lang)}")
                declined = True
            parts.append(Part(question, match.decision, None, round(match.confidence, 1), None, best_id))
        if declined:
            blocks.append(self.texts.say("part_contact", lang))
        convo.offered = [s.id for s in offered][:MAX_OFFERED]
        first = next((p for p in parts if p.matched), parts[0])
        kind = "answer" if first.matched else "suggest"
        return Reply(
            PART_BREAK.join(blocks),
            kind,
            lang,
            first.faq_id,
            first.confidence,
            tuple(offered),
            first.entity,
            first.best_id,
            parts=tuple(parts),
        )

    def _in_context(self, text: str, normal: str, convo: Conversation, alone: Match) -> Match:
        """Read a short message that does not stand on its own ("那四川呢？") with the previous topic."""
        if not self._looks_like_follow_up(normal, alone):
            return alone
        previous = self.entries.get(convo.last_entry or "")
        query = alone.query
        content = [w for w in query.tokens.words if w not in _FILLER]
        if previous is not None and previous.variant_entity in query.spotted.types and len(content) <= 2:
            entity = query.spotted.key_for(previous.variant_entity)
            return Match("answer", query, (Candidate(previous, 100.0, Evidence(1.0, 1.0, 1.0, 1.0)),), entity)
        bare = FOLLOW_UP_END.sub("", FOLLOW_UP_START.sub("", normal)).strip()
        if bare and bare != normal:
            stripped = self.matcher.match(bare)
            if stripped.decision == "answer":
                return stripped
        combined = self.matcher.match(f"{convo.last_question or ''} {text}")
        repeats = previous is not None and combined.best is not None and combined.best.entry.id == previous.id
        if repeats and previous is not None and self._brings_its_own_topic(alone, previous):
            # "and a master's afterwards?" after the licence: the follow-up's own words point elsewhere.
            combined = Match("suggest", combined.query, combined.candidates)
        if combined.decision == "answer" and (alone.best is None or combined.confidence > alone.confidence):
            return combined
        others = [c for c in combined.candidates if previous is None or c.entry.id != previous.id]
        floor = self.matcher.settings.suggest_threshold
        if others and alone.best and others[0].entry.id == alone.best.entry.id and alone.confidence >= floor:
            return Match(
                "answer", combined.query, tuple(others), query.spotted.key_for(others[0].entry.variant_entity)
            )
        return alone

    def _settled_by_the_topic(self, alone: Match, previous: Entry | None) -> Match | None:
        """A close call in which one side is the topic just discussed is about that topic: after the first
        graduation, "where was the ceremony held?" is that ceremony's place, not the founding ceremony's."""
        s = self.matcher.settings
        if alone.decision != "suggest" or previous is None:
            return None
        close = [c for c in alone.candidates[: s.max_suggestions] if c.confidence >= s.suggest_threshold]
        mine = next((c for c in close if c.entry.id == previous.id), None)
        if mine is None or (mine.confidence < s.answer_threshold and mine is not close[0]):
            return None  # below the answer threshold only when the topic is the best reading ("去的话待多久")
        rest = tuple(c for c in alone.candidates if c is not mine)
        return Match(
            "answer", alone.query, (mine, *rest), alone.query.spotted.key_for(previous.variant_entity)
        )

    def _brings_its_own_topic(self, alone: Match, previous: Entry) -> bool:
        """True when the follow-up asks about something else: a word the corpus does not know ("宿舍呢？"), or
        words of another entry that it matches on its own ("and a master's afterwards?" after the licence).
        "每年都一样吗？" after the fee has a word the fee entry lacks, but points nowhere else: same topic."""
        tokens = alone.query.tokens
        if any(w not in _FILLER for w in tokens.unknown):
            return True
        elsewhere = alone.best is not None and alone.best.entry.id != previous.id
        if not elsewhere or alone.confidence < self.matcher.settings.suggest_threshold:
            return False
        own = self.matcher.index.entry_features[self._number[previous.id]]
        return any(w not in own for w in tokens.words if w not in _FILLER)

    def _looks_like_follow_up(self, normal: str, alone: Match) -> bool:
        known = set(alone.query.tokens.words) - set(alone.query.tokens.unknown)
        if not known and not alone.query.spotted.found:
            return False
        compact = normal.replace(" ", "")
        if len(compact) > FOLLOW_UP_MAX_CHARS * (3 if detect_language(normal) == "en" else 1):
            return False
        return bool(
            FOLLOW_UP_START.search(normal)
            or FOLLOW_UP_END.search(compact)
            or alone.query.spotted.found
            or len(alone.query.tokens.words) <= 2
        )

    def entry_reply(self, entry_id: str, convo: Conversation, lang: str) -> Reply:
        """An entry's general answer, chosen by id (menus, buttons)."""
        convo.lang = lang
        return self._entry_reply(entry_id, convo, lang, None, 100.0, self.entries[entry_id].question[lang])

    def _entry_reply(
        self,
        entry_id: str,
        convo: Conversation,
        lang: str,
        entity: str | None,
        confidence: float,
        question: str,
    ) -> Reply:
        entry = self.entries[entry_id]
        convo.last_entry, convo.last_entity, convo.last_question = entry_id, entity, question
        convo.offered = []
        return Reply(
            entry.answer_for(lang, entity),
            "answer",
            lang,
            entry_id,
            round(confidence, 1),
            entity=entity,
            best_id=entry_id,
        )

    def _paginate(self, reply: Reply, convo: Conversation, max_bytes: int) -> Reply:
        if utf8_len(reply.text) <= max_bytes:
            convo.more = []
            return reply
        hint = self.texts.say("more_hint", reply.lang)
        limit = max_bytes - utf8_len(hint) - 2
        parts = _pages(reply.text.split(PART_BREAK), limit) if reply.parts else split_reply(reply.text, limit)
        convo.more = parts[1:]
        return Reply(
            f"{parts[0]}\n{hint}",
            reply.kind,
            reply.lang,
            reply.faq_id,
            reply.confidence,
            reply.suggestions,
            reply.entity,
            reply.best_id,
            continued=True,
            parts=reply.parts,
        )
