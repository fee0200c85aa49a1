"""The conversation: small talk, menus, "did you mean" numbers, follow-ups in context, declines."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bot.corpus import LANGS, Corpus, Problem, read_yaml, strip_lines
from bot.matcher import Candidate, Evidence, Match, Matcher
from bot.text import TextNormaliser, detect_language, utf8_len

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
)
SMALLTALK_MAX_CHARS = 40
_LATIN_RUN = re.compile(r"[0-9a-z]+")
"""Small talk is short; a longer message is a question even if it opens with a greeting."""
SMALLTALK_ORDER = ("human", "help", "identity", "goodbye", "thanks", "greeting")
FOLLOW_UP_START = re.compile(
    r"^(那|那么|那个|还有|再问|and|what about|how about|also|then)\b|^(那|那么|还有)"
)
FOLLOW_UP_END = re.compile(r"(呢|嘞|咧)$")
FOLLOW_UP_MAX_CHARS = 14
NUMBER_CHOICE = re.compile(r"^(?:第)?([1-9])(?:个|条|号)?$")


@dataclass(frozen=True)
class Suggestion:
    """An entry offered as "did you mean" or on the menu."""

    id: str
    question: str


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

    @property
    def matched(self) -> bool:
        """True only when the text is an FAQ entry's answer."""
        return self.kind == "answer"


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

    def say(self, key: str, lang: str) -> str:
        """A reply template in the language, with the contact details filled in."""
        texts = self._replies.get(key, {})
        template = texts.get(lang) or texts.get("en") or ""
        return template.format(**self._contact)

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
        for lang, template in texts.items() if isinstance(texts, dict) else ():
            try:
                str(template).format(phone="", email="")
            except (KeyError, IndexError, ValueError) as exc:
                problems.append(
                    Problem(
                        path.name,
                        lines.get("replies", 0),
                        f"replies.{key}.{lang} has a placeholder other than {{phone}} and {{email}}: {exc}",
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

    def respond(
        self, text: str, convo: Conversation, lang_hint: str | None = None, max_bytes: int | None = None
    ) -> Reply:
        """The reply to one message; `convo` is updated in place for the next turn."""
        normal = self.normaliser.normalise(text)
        lang = self._language(text, normal, convo, lang_hint)
        reply = (
            (self.menu(convo, lang, "help") if not normal else None)
            or self._continue(normal, convo, lang)
            or self._choice(normal, convo, lang)
            or self._smalltalk(normal, convo, lang)
            or self._answer(text, normal, convo, lang)
        )
        if max_bytes is not None and reply.kind != "more":
            reply = self._paginate(reply, convo, max_bytes)
        convo.lang = reply.lang
        return reply

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
        match = self.matcher.match(text)
        if match.decision != "answer" and convo.last_entry:
            match = self._in_context(text, normal, convo, match)
        if match.decision == "answer" and match.best is not None:
            return self._entry_reply(match.best.entry.id, convo, lang, match.entity, match.confidence, text)
        if match.decision == "suggest":
            items = tuple(
                Suggestion(c.entry.id, c.entry.question[lang])
                for c in match.candidates[: self.matcher.settings.max_suggestions]
                if c.confidence >= self.matcher.settings.suggest_threshold
            )
            convo.offered = [s.id for s in items]
            lines = [self.texts.say("suggest", lang)] + [f"{n}. {s.question}" for n, s in enumerate(items, 1)]
            best = match.best.entry.id if match.best else None
            return Reply("\n".join(lines), "suggest", lang, None, match.confidence, items, best_id=best)
        best = match.best.entry.id if match.best else None
        return Reply(self.texts.say("decline", lang), "decline", lang, None, match.confidence, best_id=best)

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
        if combined.decision == "answer" and (alone.best is None or combined.confidence > alone.confidence):
            return combined
        others = [c for c in combined.candidates if previous is None or c.entry.id != previous.id]
        floor = self.matcher.settings.suggest_threshold
        if others and alone.best and others[0].entry.id == alone.best.entry.id and alone.confidence >= floor:
            return Match(
                "answer", combined.query, tuple(others), query.spotted.key_for(others[0].entry.variant_entity)
            )
        return alone

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
        from bot.wechat import split_reply

        hint = self.texts.say("more_hint", reply.lang)
        parts = split_reply(reply.text, max_bytes - utf8_len(hint) - 2)
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
        )
