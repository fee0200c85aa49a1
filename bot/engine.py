"""FAQBot: the one public object that the server and the command line share."""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import os
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from bot.analysis_cache import analysis_key, read_analysis, read_dictionary, write_analysis
from bot.config import Config, load_config
from bot.corpus import Corpus, CorpusError, Problem, load_corpus
from bot.decision import DecisionModel
from bot.dialogue import Conversation, Dialogue, DialogueTexts, Reply, check_dialogue_texts
from bot.index import Analysis
from bot.matcher import Matcher
from bot.storage import (
    FOREVER_SECONDS,
    MemoryStorage,
    QuestionRecord,
    Storage,
    StorageError,
    Writes,
    open_storage,
)

log = logging.getLogger("faqbot.engine")
_OUTCOMES = {"answer": "answered", "suggest": "suggested", "decline": "declined"}

GENERATION_KEY = "corpus:generation"
WORKERS_STATE = "corpus:workers"
WORKER_REPORT_GRACE_SECONDS = 30.0
STORAGE_FAILURE_MEMORY_SECONDS = 10.0
"""How long /healthz reports a failed storage operation after it happened."""
FIRST_REPLY_CACHE_SIZE = 1024
"""Replies to a conversation's first message remembered per worker (a few MB at most; see FirstReplies)."""
_BLANK = Conversation()


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


def _namespace(channel: str) -> str:
    """The namespace of a channel's sessions and counters: WeChat users apart from web and API sessions
    (and client addresses, counted by the API's per-address limit)."""
    return channel if channel in ("wechat", "address") else "web"


def corpus_signature(directory: Path) -> str:
    """A fingerprint of the corpus files (names, sizes, modification times) to notice changes cheaply."""
    parts = []
    for path in sorted(directory.glob("*")):
        if path.is_file() and path.suffix in (".yaml", ".yml", ".txt"):
            stat = path.stat()
            parts.append(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def check_userdict(path: Path | None) -> list[Problem]:
    """The user dictionary must be UTF-8 text: jieba fails on anything else, in the middle of a build."""
    if path is None:
        return []
    try:
        path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        return [Problem(path.name, 0, f"not UTF-8 text (byte {exc.start}); save it as UTF-8")]
    except OSError as exc:
        return [Problem(path.name, 0, f"cannot read the file: {exc.strerror}")]
    return []


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cycle collector while a brain is built, then restore it as it was.

    A build allocates hundreds of thousands of objects that live as long as the brain; the collector would
    walk them again and again as they are made (about a tenth of a fresh process's build), freeing nothing.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def build_brain(config: Config) -> Brain:
    """Load, check and index the corpus; raises CorpusError and leaves nothing half-built."""
    with collector_paused():
        return _build_brain(config)


def _build_brain(config: Config) -> Brain:
    signature = corpus_signature(config.corpus_dir)
    cache = Path(config.analysis_cache) if config.analysis_cache else None
    key = analysis_key(config.corpus_dir) if cache else ""
    corpus = load_corpus(config.corpus_dir)
    problems = check_dialogue_texts(config.corpus_dir / "dialogue.yaml", corpus)
    problems += check_userdict(corpus.userdict)
    if any(problem.severity == "error" for problem in problems):
        raise CorpusError(problems)
    # A file changed while the corpus was read: the analysis is worked out and not kept (nor read) this time.
    if cache and key != analysis_key(config.corpus_dir):
        cache = None
    known = read_analysis(cache, key) if cache else None
    # An edited corpus: jieba's filed dictionary is still the one kept for the previous version.
    dictionary = read_dictionary(cache) if cache and known is None else None
    start = known or (Analysis(dictionary=dictionary) if dictionary else None)
    matcher = Matcher(corpus, config.match, DecisionModel.load(config.corpus_dir), start)
    analysis = matcher.take_analysis()
    if cache and known is None and analysis is not None:
        dictionary = matcher.analyser.tokeniser.filed_dictionary()
        write_analysis(cache, key, replace(analysis, dictionary=dictionary))
    normaliser = matcher.analyser.normaliser
    texts = DialogueTexts.load(
        config.corpus_dir / "dialogue.yaml",
        config.dialogue.contact_phone,
        config.dialogue.contact_email,
        normaliser.normalise,
    )
    return Brain(corpus, matcher, Dialogue(matcher, texts, normaliser), time.time(), signature)


class FirstReplies:
    """Replies to a message that opens a conversation, remembered for one brain (one corpus version).

    Families send the same few questions over and over in admissions season, most of them as their first
    message (or after their session expired), and the dialogue's work around the matcher (splitting the message
    into questions, out-of-scope terms, paging for WeChat) costs several times the remembered match itself.

    Why this is safe: Dialogue.respond reads nothing but its arguments, the brain it belongs to (corpus, index,
    dialogue texts) and the Conversation it is given; it keeps no state of its own and reads no clock or
    randomness. With a blank Conversation (equal to Conversation(), which is what a new or expired session
    loads) the reply and the conversation it leaves are therefore a pure function of (brain, text, language
    hint, byte limit), and that is the key here, with the exact text: the dialogue reads the raw text (its
    punctuation splits questions), so no normal form is assumed. A conversation with anything in it (a last
    question, offered numbers, pages to come) is never looked up or stored, so follow-ups are read in context
    as before. The cache belongs to one brain: a reload swaps the brain and FAQBot starts an empty cache.
    Replies are frozen; the conversation is copied out, so callers cannot change what is remembered.
    """

    def __init__(self, brain: Brain, size: int = FIRST_REPLY_CACHE_SIZE) -> None:
        self.brain = brain
        self.size = size
        self._lock = threading.Lock()
        self._remembered: OrderedDict[tuple[str, str | None, int | None], tuple[Reply, Conversation]] = (
            OrderedDict()
        )

    def __len__(self) -> int:
        return len(self._remembered)

    def respond(self, text: str, lang: str | None, max_bytes: int | None) -> tuple[Reply, Conversation]:
        """The reply to text opening a conversation, and the conversation it leaves (a copy of its own)."""
        key = (text, lang, max_bytes)
        with self._lock:
            found = self._remembered.get(key)
            if found is not None:
                self._remembered.move_to_end(key)
        if found is None:
            convo = Conversation()
            reply = self.brain.dialogue.respond(text, convo, lang_hint=lang, max_bytes=max_bytes)
            found = (reply, convo)
            with self._lock:
                self._remembered[key] = found
                if len(self._remembered) > self.size:
                    self._remembered.popitem(last=False)
        reply, convo = found
        return reply, replace(convo, offered=list(convo.offered), more=list(convo.more))


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
        self._first_replies = FirstReplies(self._brain)
        self._reload_lock = threading.Lock()
        self.last_reload_error: str | None = None
        self._failed_signature: str | None = None
        self.observer: Observer = Unobserved()
        self._storage_failure: tuple[float, str] | None = None  # (monotonic time, message) of the last one
        self._generation = self._current_generation()

    @classmethod
    def from_config(
        cls, path: str | os.PathLike[str] | None = "config.yaml", storage: Storage | None = None
    ) -> FAQBot:
        """A bot built from config.yaml, with the storage it names unless one is given."""
        config = load_config(path)
        if storage is None:
            storage = open_storage(config.storage, question_log_days=config.server.question_log_days)
        return cls(config, storage)

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
        convo: Conversation | None = None,
    ) -> Reply:
        """The reply to one message; with a session, follow-ups and "did you mean" numbers work.

        What the message changes (conversation state, question log) is written at once, or added to writes
        for the caller to write together with its own changes. convo is the session's conversation when the
        caller has read it already (WeChat reads it in the same statement as a retry's reply), else it is read.
        """
        brain = self._brain
        if convo is None:
            convo = self._load(session, channel)
        if convo == _BLANK:
            reply, convo = self._first_replies_of(brain).respond(text, lang, max_bytes)
        else:
            reply = brain.dialogue.respond(text, convo, lang_hint=lang, max_bytes=max_bytes)
        records = self._records(text, session, channel, reply)
        self._keep(session, channel, convo, writes, records)
        if writes is None:  # otherwise the caller reports them once its writes are kept
            for record in records:
                self.observer.question(record)
        return reply

    def _first_replies_of(self, brain: Brain) -> FirstReplies:
        """The remembered first replies of this brain; a new, empty cache once the brain was replaced."""
        first = self._first_replies
        if first.brain is not brain:
            first = self._first_replies = FirstReplies(brain)
        return first

    def menu(
        self,
        session: str | None,
        lang: str,
        intro: str = "help",
        writes: Writes | None = None,
        channel: str = "api",
    ) -> Reply:
        """The numbered topic menu (for the welcome message), remembered so numbers work next turn."""
        convo = self._load(session, channel)
        reply = self._brain.dialogue.menu(convo, lang, intro)
        self._keep(session, channel, convo, writes)
        return reply

    def answer_entry(
        self, entry_id: str, session: str | None, lang: str, channel: str, writes: Writes | None = None
    ) -> Reply | None:
        """An entry's answer chosen directly (a WeChat menu key), or None for an unknown id."""
        brain = self._brain
        if entry_id not in brain.dialogue.entries:
            return None
        convo = self._load(session, channel)
        reply = brain.dialogue.entry_reply(entry_id, convo, lang)
        self._keep(session, channel, convo, writes)
        return reply

    def write(self, writes: Writes) -> None:
        """Write a message's changes in one transaction; if storage is down, answers go on without them."""
        try:
            self.storage.write(writes)
        except StorageError as exc:
            self.observer.storage_error(exc)
            self.storage_failed(exc, "conversation state and question log not saved")

    def storage_failed(self, exc: StorageError, consequence: str) -> None:
        """Log a storage failure and remember it, so /healthz reports it while answers carry on."""
        log.error("storage unavailable, %s: %s", consequence, exc)
        self._storage_failure = (time.monotonic(), str(exc))

    def storage_health(self) -> tuple[bool, str | None]:
        """(healthy, last failure): unhealthy while the backend does not answer or failed recently."""
        failure = self._storage_failure
        recent = failure is not None and time.monotonic() - failure[0] < STORAGE_FAILURE_MEMORY_SECONDS
        try:
            answering = self.storage.ping()
        except StorageError:
            answering = False
        return answering and not recent, failure[1] if failure else None

    def session_language(self, session: str, channel: str = "api") -> str | None:
        """The language a session last spoke, if remembered."""
        return self._load(session, channel).lang

    def say(self, key: str, lang: str) -> str:
        """A fixed dialogue text (welcome, decline, unsupported message ...) in the language."""
        return self._brain.dialogue.texts.say(key, lang)

    def over_rate_limit(self, user: str, channel: str = "api", limit: int | None = None) -> bool:
        """True when the user asked more than the limit (server.rate_limit_per_minute) in the last minute.

        Counted per channel: a web session named like a WeChat OpenID has its own count.
        """
        limit = self.config.server.rate_limit_per_minute if limit is None else limit
        if limit <= 0:
            return False
        try:
            return self.storage.hit(f"rate:{_namespace(channel)}:{self.hash_user(user)}", 60) > limit
        except StorageError as exc:
            self.observer.storage_error(exc)
            self.storage_failed(exc, "rate limit not applied")
            return False

    def hash_user(self, user: str) -> str:
        """A stable pseudonym for a user id, so logs never hold raw OpenIDs."""
        salted = f"{self.config.dialogue.user_hash_salt}:{user}".encode("utf-8", "surrogatepass")
        return hashlib.sha256(salted).hexdigest()[:16]

    def _load(self, session: str | None, channel: str) -> Conversation:
        if not session:
            return Conversation()
        try:
            return Conversation.from_state(self.storage.load_session(self.session_key(session, channel)))
        except StorageError as exc:
            self.observer.storage_error(exc)
            self.storage_failed(exc, "answering without conversation state")
            return Conversation()

    def _keep(
        self,
        session: str | None,
        channel: str,
        convo: Conversation,
        writes: Writes | None,
        records: list[QuestionRecord] | None = None,
    ) -> None:
        """Add the conversation (and the logged questions) to the caller's writes, or write them at once."""
        pending = writes if writes is not None else Writes()
        if session:
            pending.with_session(
                self.session_key(session, channel), convo.to_state(), self.config.dialogue.session_ttl
            )
        for record in records or []:
            pending.with_question(record)
        if writes is None:
            self.write(pending)

    def session_key(self, session: str, channel: str) -> str:
        """The storage key of a session's conversation (the WeChat channel reads it with a message's reply).

        Sessions are keyed by channel: an API client cannot name a WeChat user's conversation.
        """
        return f"s:{_namespace(channel)}:{self.hash_user(session)}"

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
            except (
                Exception
            ) as exc:  # whatever breaks a build (a file jieba cannot read ...) keeps the old one
                self.last_reload_error = f"reload failed: {type(exc).__name__}: {exc}"
                log.exception("corpus reload failed, keeping the previous corpus")
                return False, self.last_reload_error
            self._brain = brain
            self._first_replies = FirstReplies(brain)  # replies remembered for the old corpus are dropped
            self.last_reload_error = None
            log.info("corpus reloaded: %d entries", len(brain.corpus.entries))
            return True, f"{len(brain.corpus.entries)} entries"

    # --- one reload, every worker: a generation counter in shared storage that every worker follows -------

    @property
    def worker_id(self) -> str:
        """This process's name in the workers' reports (worked out per call: workers are forked after build)."""
        return f"{socket.gethostname()}:{os.getpid()}"

    def _current_generation(self) -> int:
        try:
            return self.storage.hits(GENERATION_KEY)
        except StorageError as exc:
            self.storage_failed(exc, "corpus generation unknown")
            return 0

    @property
    def generation(self) -> int:
        """The corpus generation this worker has built (or tried to build)."""
        return self._generation

    def publish_reload(self) -> int:
        """Start a new corpus generation that every worker (every server on Redis) will reload to."""
        self._generation = self.storage.hit(GENERATION_KEY, FOREVER_SECONDS)
        self.report_worker()
        return self._generation

    def follow_reloads(self) -> None:
        """Reload when another worker published a generation newer than ours, then report where we are."""
        generation = self._current_generation()
        if generation > self._generation:
            self.reload()
            self._generation = generation
        self.report_worker()

    def report_worker(self) -> None:
        """Tell the other workers which generation this one serves (kept a few watch intervals)."""
        report = {
            "generation": self._generation,
            "entries": len(self._brain.corpus.entries),
            "loaded_at": self._brain.loaded_at,
            "error": self.last_reload_error,
        }
        # Long enough that a worker busy rebuilding (seconds, on a loaded machine) is not taken for gone.
        ttl = 3 * self.config.server.watch_interval + WORKER_REPORT_GRACE_SECONDS
        try:
            self.storage.put_state(WORKERS_STATE, self.worker_id, json.dumps(report), ttl)
        except StorageError as exc:
            self.storage_failed(exc, "worker report not shared")

    def worker_reports(self) -> dict[str, dict]:
        """What every live worker last reported, by worker id (host:pid)."""
        try:
            reports = self.storage.get_state(WORKERS_STATE)
        except StorageError as exc:
            self.storage_failed(exc, "worker reports not read")
            return {}
        return {worker: json.loads(text) for worker, text in sorted(reports.items())}

    def reload_if_changed(self) -> bool | None:
        """Reload when the corpus files changed since the last build; None when nothing changed."""
        signature = corpus_signature(self.config.corpus_dir)
        if signature == self._brain.signature or signature == self._failed_signature:
            return None
        ok, _ = self.reload()
        self._failed_signature = None if ok else signature
        return ok
