"""FAQBot: the one public object that the server and the command line share."""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bot.config import Config, load_config
from bot.corpus import Corpus, CorpusError, load_corpus
from bot.decision import DecisionModel
from bot.dialogue import Conversation, Dialogue, DialogueTexts, Reply
from bot.matcher import Matcher
from bot.storage import MemoryStorage, QuestionRecord, Storage, StorageError, Writes, open_storage

log = logging.getLogger("faqbot.engine")
_OUTCOMES = {"answer": "answered", "suggest": "suggested", "decline": "declined"}


@dataclass(frozen=True)
class Brain:
    """Everything built from one corpus; replaced as a whole on reload so a request sees one version."""

    corpus: Corpus
    matcher: Matcher
    dialogue: Dialogue
    loaded_at: float
    signature: str


class Observer(Protocol):
    """What the bot reports as it works (the server counts it for monitoring)."""

    def question(self, record: QuestionRecord) -> None: ...

    def storage_error(self, error: StorageError) -> None: ...

    def retry_answered(self) -> None: ...


class Unobserved:
    """The default observer: nothing is counted."""

    def question(self, record: QuestionRecord) -> None:
        """Ignore an answered question."""

    def storage_error(self, error: StorageError) -> None:
        """Ignore a storage failure (the bot has logged it)."""

    def retry_answered(self) -> None:
        """Ignore a retry answered from the dedupe store."""


def corpus_signature(directory: Path) -> str:
    """A fingerprint of the corpus files (names, sizes, modification times) to notice changes cheaply."""
    parts = []
    for path in sorted(directory.glob("*")):
        if path.is_file() and path.suffix in (".yaml", ".yml", ".txt"):
            stat = path.stat()
            parts.append(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def build_brain(config: Config) -> Brain:
    """Load, check and index the corpus; raises CorpusError and leaves nothing half-built."""
    signature = corpus_signature(config.corpus_dir)
    corpus = load_corpus(config.corpus_dir)
    matcher = Matcher(corpus, config.match, DecisionModel.load(config.corpus_dir))
    normaliser = matcher.analyser.normaliser
    texts = DialogueTexts.load(
        config.corpus_dir / "dialogue.yaml",
        config.dialogue.contact_phone,
        config.dialogue.contact_email,
        normaliser.normalise,
    )
    return Brain(corpus, matcher, Dialogue(matcher, texts, normaliser), time.time(), signature)


class FAQBot:
    """Answers questions in the asker's language, remembering each session's context in storage."""

    def __init__(
        self,
        config: Config,
        storage: Storage | None = None,
        clock: Callable[[], float] = time.time,
        brain: Brain | None = None,
    ) -> None:
        self.config = config
        self.storage = storage if storage is not None else MemoryStorage(clock=clock)
        self.clock = clock
        self._brain = brain or build_brain(config)
        self._reload_lock = threading.Lock()
        self.last_reload_error: str | None = None
        self._failed_signature: str | None = None
        self.observer: Observer = Unobserved()

    @classmethod
    def from_config(
        cls, path: str | os.PathLike[str] | None = "config.yaml", storage: Storage | None = None
    ) -> FAQBot:
        """A bot built from config.yaml, with the storage it names unless one is given."""
        config = load_config(path)
        return cls(config, storage if storage is not None else open_storage(config.storage))

    @property
    def brain(self) -> Brain:
        return self._brain

    def ask(
        self,
        text: str,
        session: str | None = None,
        channel: str = "api",
        lang: str | None = None,
        max_bytes: int | None = None,
        writes: Writes | None = None,
    ) -> Reply:
        """The reply to one message; with a session, follow-ups and "did you mean" numbers work.

        What the message changes (conversation state, question log) is written at once, or added to writes
        for the caller to write together with its own changes.
        """
        brain = self._brain
        convo = self._load(session)
        reply = brain.dialogue.respond(text, convo, lang_hint=lang, max_bytes=max_bytes)
        records = self._records(text, session, channel, reply)
        self._keep(session, convo, writes, records)
        if writes is None:  # otherwise the caller reports them once its writes are kept
            for record in records:
                self.observer.question(record)
        return reply

    def menu(
        self, session: str | None, lang: str, intro: str = "help", writes: Writes | None = None
    ) -> Reply:
        """The numbered topic menu (for the welcome message), remembered so numbers work next turn."""
        convo = self._load(session)
        reply = self._brain.dialogue.menu(convo, lang, intro)
        self._keep(session, convo, writes)
        return reply

    def answer_entry(
        self, entry_id: str, session: str | None, lang: str, channel: str, writes: Writes | None = None
    ) -> Reply | None:
        """An entry's answer chosen directly (a WeChat menu key), or None for an unknown id."""
        brain = self._brain
        if entry_id not in brain.dialogue.entries:
            return None
        convo = self._load(session)
        reply = brain.dialogue.entry_reply(entry_id, convo, lang)
        self._keep(session, convo, writes)
        return reply

    def write(self, writes: Writes) -> None:
        """Write a message's changes in one transaction; if storage is down, answers go on without them."""
        try:
            self.storage.write(writes)
        except StorageError as exc:
            self.observer.storage_error(exc)
            log.error("storage unavailable, conversation state and question log not saved: %s", exc)

    def session_language(self, session: str) -> str | None:
        """The language a session last spoke, if remembered."""
        return self._load(session).lang

    def say(self, key: str, lang: str) -> str:
        """A fixed dialogue text (welcome, decline, unsupported message ...) in the language."""
        return self._brain.dialogue.texts.say(key, lang)

    def over_rate_limit(self, user: str) -> bool:
        """True when the user asked more than server.rate_limit_per_minute questions in the last minute."""
        limit = self.config.server.rate_limit_per_minute
        if limit <= 0:
            return False
        try:
            return self.storage.hit("rate:" + self.hash_user(user), 60) > limit
        except StorageError as exc:
            self.observer.storage_error(exc)
            log.error("storage unavailable, rate limit not applied: %s", exc)
            return False

    def hash_user(self, user: str) -> str:
        """A stable pseudonym for a user id, so logs never hold raw OpenIDs."""
        salted = f"{self.config.dialogue.user_hash_salt}:{user}".encode("utf-8", "surrogatepass")
        return hashlib.sha256(salted).hexdigest()[:16]

    def _load(self, session: str | None) -> Conversation:
        if not session:
            return Conversation()
        try:
            return Conversation.from_state(self.storage.load_session(self._session_key(session)))
        except StorageError as exc:
            self.observer.storage_error(exc)
            log.error("storage unavailable, answering without conversation state: %s", exc)
            return Conversation()

    def _keep(
        self,
        session: str | None,
        convo: Conversation,
        writes: Writes | None,
        records: list[QuestionRecord] | None = None,
    ) -> None:
        """Add the conversation (and the logged questions) to the caller's writes, or write them at once."""
        pending = writes if writes is not None else Writes()
        if session:
            pending.with_session(
                self._session_key(session), convo.to_state(), self.config.dialogue.session_ttl
            )
        for record in records or []:
            pending.with_question(record)
        if writes is None:
            self.write(pending)

    def _session_key(self, session: str) -> str:
        return "s:" + self.hash_user(session)

    def _records(self, text: str, session: str | None, channel: str, reply: Reply) -> list[QuestionRecord]:
        """The message as the log keeps it, one record per question it asks; the user only as a salted hash."""
        if not reply.parts:
            outcome = _OUTCOMES.get(reply.kind, "smalltalk")
            return [
                self._record(
                    text, session, channel, reply.lang, outcome, reply.faq_id, reply.best_id, reply.confidence
                )
            ]
        return [
            self._record(
                part.question,
                session,
                channel,
                reply.lang,
                _OUTCOMES[part.kind],
                part.faq_id,
                part.best_id,
                part.confidence,
            )
            for part in reply.parts
        ]

    def _record(
        self,
        text: str,
        session: str | None,
        channel: str,
        lang: str,
        outcome: str,
        faq_id: str | None,
        best_id: str | None,
        score: float,
    ) -> QuestionRecord:
        return QuestionRecord(
            time=self.clock(),
            user=self.hash_user(session or "anonymous"),
            channel=channel,
            text=text[: self.config.server.max_question_chars],
            lang=lang,
            outcome=outcome,
            faq_id=faq_id,
            best_id=best_id,
            score=float(score),
        )

    def reload(self) -> tuple[bool, str]:
        """Build a new brain from the corpus and swap it in; on any error keep serving the old one."""
        with self._reload_lock:
            try:
                brain = build_brain(self.config)
            except CorpusError as exc:
                self.last_reload_error = str(exc)
                log.error("corpus reload failed, keeping the previous corpus: %s", exc)
                return False, str(exc)
            self._brain = brain
            self.last_reload_error = None
            log.info("corpus reloaded: %d entries", len(brain.corpus.entries))
            return True, f"{len(brain.corpus.entries)} entries"

    def reload_if_changed(self) -> bool | None:
        """Reload when the corpus files changed since the last build; None when nothing changed."""
        signature = corpus_signature(self.config.corpus_dir)
        if signature == self._brain.signature or signature == self._failed_signature:
            return None
        ok, _ = self.reload()
        self._failed_signature = None if ok else signature
        return ok
