"""The console's work, apart from HTTP: the draft, its checks, trying it, the publish gate, versions, inbox.

Routes call these functions; the command line and tests can too. The draft is the corpus folder's texts
(file name -> text) with the staff's unpublished edits; it is read by the same engine as the live corpus.
"""

from __future__ import annotations

import difflib
import re
import shutil
import tempfile
import threading
import time
import weakref
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from rapidfuzz import fuzz

from bot.console.store import ConsoleStore, draft_revision, files_digest
from bot.corpus import LANGS, MAX_ANSWER_BYTES, Problem, read_corpus
from bot.corpus_writer import read_corpus_files, write_corpus_files
from bot.dialogue import Reply
from bot.engine import Brain, FAQBot, build_brain
from bot.evaluation import EvalFileError, Report, evaluate_bot
from bot.matcher import out_of_scope_clashes
from bot.storage import MemoryStorage, QuestionRecord
from bot.text import TextNormaliser

APPLIED_MARKER = ".published-version"
BLOCKING_KINDS = ("wrong", "false", "wrong-language")
FIELD = re.compile(r"`(\w+)(?:\.(\w+))?")
ENTRY_LABEL = re.compile(r"^entry '([^']+)': ")
# WeChat shows at most 2,048 bytes in one reply; the corpus keeps answers under 2,000 bytes of UTF-8, which is
# 2,000 Latin letters or about 666 Chinese characters.
CHARACTER_LIMIT = {"en": MAX_ANSWER_BYTES, "zh": MAX_ANSWER_BYTES // 3}
LOW_CONFIDENCE_MARGIN = 10.0  # answers less than this above the answer threshold count as low-confidence
SIMILAR = 80
KEEP_FOLDERS = 6  # materialised drafts kept on disk
NUMBER = re.compile(r"^(?:第)?[1-9](?:个|条|号)?$")


class DraftConflict(Exception):
    """The draft changed since the editor read it; storing their version would undo someone's edit."""

    def __init__(self, user: str, when: str) -> None:
        self.user, self.when = user, when
        super().__init__(
            f"the draft was changed by {user} at {when} after you opened this page, so your save was refused "
            "to keep their change. Your text is still in the form: check it against the draft as it is now "
            "and save again"
        )


@dataclass(frozen=True)
class FieldProblem:
    """A problem with the draft, placed on the entry field it concerns, with a way out where there is one."""

    message: str
    severity: str = "error"
    entry: str | None = None
    field: str | None = None
    lang: str | None = None
    file: str = ""
    clash_terms: tuple[str, ...] = ()


@dataclass
class DraftCheck:
    """Everything `validate` and the console's own checks say about a draft."""

    problems: list[FieldProblem]
    entries: int

    @property
    def errors(self) -> list[FieldProblem]:
        return [p for p in self.problems if p.severity == "error"]

    def for_entry(self, entry_id: str) -> list[FieldProblem]:
        return [p for p in self.problems if p.entry == entry_id]


@dataclass(frozen=True)
class Failure:
    """One evaluation question the bot gets wrong."""

    question: str
    lang: str
    expected: tuple[str, ...]
    kind: str
    got: str | None
    confidence: float

    @property
    def key(self) -> tuple[str, str]:
        return self.question, self.lang


@dataclass
class SetResult:
    """One evaluation set before (live) and after (draft)."""

    name: str
    meets: bool
    live_meets: bool
    accuracy: float
    wrong_rate: float
    new: list[Failure] = field(default_factory=list)
    fixed: list[Failure] = field(default_factory=list)
    error: str = ""

    @property
    def blocking(self) -> list[Failure]:
        return [f for f in self.new if f.kind in BLOCKING_KINDS]


@dataclass
class GateResult:
    """Whether a draft may go live, and why not."""

    check: DraftCheck
    sets: list[SetResult]
    refused: str = ""  # a reason outside the gate: another publish under way, a draft changed meanwhile
    refused_zh: str = ""  # the same reason in Chinese, for the console's Chinese pages

    @property
    def reasons(self) -> list[str]:
        return self.reasons_in("en")

    def reasons_in(self, lang: str) -> list[str]:
        """Why the draft may not go live, in the editor's language."""
        zh = lang == "zh"
        refused = (self.refused_zh or self.refused) if zh else self.refused
        out = [refused] if refused else []
        if self.check.errors:
            n = len(self.check.errors)
            out.append(f"草稿中有 {n} 处错误" if zh else f"{n} error(s) in the draft")
        for s in self.sets:
            if s.error:
                out.append(f"{s.name}: {s.error}")
            if s.blocking:
                n = len(s.blocking)
                out.append(f"{s.name}：新增 {n} 个答错的问题" if zh else f"{s.name}: {n} new wrong answer(s)")
            if s.live_meets and not s.meets:
                out.append(f"{s.name}：低于评测门槛" if zh else f"{s.name}: below the evaluation thresholds")
        return out

    @property
    def passed(self) -> bool:
        return not self.reasons


@dataclass(frozen=True)
class Tried:
    """What one corpus says to a question."""

    reply: Reply
    runner_up: str | None
    runner_up_confidence: float


@dataclass
class InboxGroup:
    """Questions families asked that the bot did not answer well, grouped by similarity."""

    key: str
    texts: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    langs: Counter[str] = field(default_factory=Counter)
    offered: Counter[str] = field(default_factory=Counter)
    picked: Counter[str] = field(default_factory=Counter)
    last_asked: float = 0.0

    @property
    def count(self) -> int:
        return sum(self.texts.values())

    @property
    def sample(self) -> str:
        return self.texts.most_common(1)[0][0]

    @property
    def lang(self) -> str:
        return self.langs.most_common(1)[0][0] if self.langs else "en"


class Console:
    """The console over one bot: the bot serves the live corpus, the store keeps the draft and versions."""

    def __init__(self, bot: FAQBot, store: ConsoleStore, clock: Callable[[], float] = time.time) -> None:
        self.bot = bot
        self.store = store
        self.clock = clock
        self.corpus_dir = Path(bot.config.corpus_dir)
        self._brains: OrderedDict[str, Brain] = OrderedDict()
        self._brain_lock = threading.Lock()
        self._work = Path(tempfile.mkdtemp(prefix="faqbot-console-"))
        weakref.finalize(self, shutil.rmtree, self._work, True)  # removed with the console
        self._normaliser = TextNormaliser()
        self._reports: OrderedDict[tuple, Report] = OrderedDict()

    # --- the draft ---
    def live_files(self) -> dict[str, str]:
        return read_corpus_files(self.corpus_dir)

    def draft_files(self) -> dict[str, str]:
        return self.draft_state()[0]

    def draft_state(self) -> tuple[dict[str, str], int]:
        """The draft's files and revision, read together (revision 0: no draft, the live files)."""
        draft = self.store.draft()
        return (dict(draft["files"]) if draft else self.live_files()), draft_revision(draft)

    def has_draft(self) -> bool:
        draft = self.store.draft()
        return bool(draft) and draft["files"] != self.live_files()

    def save_draft(self, files: Mapping[str, str], user: str, what: str, revision: int) -> None:
        """Store the files as the new draft if the draft is still at `revision`; DraftConflict if not."""
        draft = self.store.draft()
        base = draft.get("base") if draft else files_digest(self.live_files())
        saved = {"files": dict(files), "user": user, "time": self.clock(), "base": base}
        if not self.store.save_draft(saved, revision):
            raise self._conflict()
        self.store.audit(user, "edit", what)

    def edit_draft(
        self,
        change: Callable[[dict[str, str]], dict[str, str]],
        user: str,
        what: str,
        seen: int | None = None,
    ) -> None:
        """Apply `change` to the newest draft and store it in one step.

        With `seen` (the revision the editor's page showed), a draft changed since is refused; without,
        a save that lands in between is read again and the change applied to it.
        """
        for _ in range(3):
            files, revision = self.draft_state()
            if seen is not None and seen != revision:
                raise self._conflict()
            try:
                self.save_draft(change(files), user, what, revision)
                return
            except DraftConflict:
                if seen is not None:
                    raise
        raise self._conflict()

    def _conflict(self) -> DraftConflict:
        draft = self.store.draft() or {}
        when = time.strftime("%H:%M", time.localtime(draft.get("time", self.clock())))
        return DraftConflict(str(draft.get("user") or "someone"), when)

    def draft_is_stale(self) -> bool:
        """True when the live corpus changed since the draft was started (publishing would undo that)."""
        draft = self.store.draft()
        return bool(draft) and draft.get("base") != files_digest(self.live_files())

    def discard_draft(self, user: str) -> None:
        self.store.drop_draft()  # discarding is meant to drop whatever the draft holds
        self.store.audit(user, "discard draft")

    def draft_diff(self) -> str:
        return files_diff(self.live_files(), self.draft_files())

    def folder_for(self, files: Mapping[str, str]) -> Path:
        """The files written into a folder of their own (named by their digest) for the engine to read."""
        folder = self._work / files_digest(dict(files))
        if not folder.exists():
            staging = Path(tempfile.mkdtemp(dir=self._work))
            write_corpus_files(staging, files)
            try:
                staging.rename(folder)
            except OSError:
                shutil.rmtree(staging, ignore_errors=True)
            self._prune(keep=folder)
        return folder

    def _prune(self, keep: Path) -> None:
        """Remove old materialised drafts, keeping the newest few and those the remembered engines use."""
        with self._brain_lock:
            used = {b.corpus.directory for b in self._brains.values()} | {keep}
        folders = sorted(self._work.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in folders[KEEP_FOLDERS:]:
            if old not in used:
                shutil.rmtree(old, ignore_errors=True)

    def check(self, files: Mapping[str, str]) -> DraftCheck:
        """`validate`'s checks (placeholders and WeChat's limit among them) placed on fields, with the
        out-of-scope clashes offered a way out (take the words off the list)."""
        corpus, problems = read_corpus(self.folder_for(files))
        found = [_placed(p) for p in problems]
        if corpus is not None:
            clashes: dict[str, set[str]] = {}
            for clashing, _, found_terms in out_of_scope_clashes(corpus, self._normaliser.normalise):
                clashes.setdefault(clashing.id, set()).update(found_terms)
            for entry in corpus.entries:
                clash = sorted(clashes.get(entry.id, ()))
                if clash:
                    found.append(
                        FieldProblem(
                            "its questions use words listed as out of scope ("
                            + ", ".join(clash)
                            + "); families "
                            "asking with them are declined. Take the words off the out-of-scope list, or reword.",
                            entry=entry.id,
                            field="alternates",
                            file=entry.file,
                            clash_terms=tuple(clash),
                        )
                    )
                if not entry.source:
                    found.append(
                        FieldProblem(
                            "say which source document the answer comes from",
                            "warning",
                            entry=entry.id,
                            field="source",
                            file=entry.file,
                        )
                    )
        return DraftCheck(found, len(corpus.entries) if corpus else 0)

    def draft_brain(self, files: Mapping[str, str]) -> Brain:
        """The engine built on a set of files (remembered, since building takes a second or two)."""
        digest = files_digest(dict(files))
        with self._brain_lock:
            if digest not in self._brains:
                folder = self.folder_for(files)
                # A draft's analysis is not kept: the cache file is the live corpus's.
                draft = replace(self.bot.config, corpus_dir=folder, analysis_cache="")
                self._brains[digest] = build_brain(draft)
                while len(self._brains) > 3:
                    self._brains.popitem(last=False)
            self._brains.move_to_end(digest)
            return self._brains[digest]

    def _quiet_bot(self, brain: Brain) -> FAQBot:
        """A bot that answers without logging or remembering anything (staff questions are not families')."""
        config = replace(self.bot.config, corpus_dir=brain.corpus.directory)
        return FAQBot(config, MemoryStorage(clock=self.clock), clock=self.clock, brain=brain)

    def try_question(self, text: str) -> tuple[Tried | None, Tried]:
        """The draft's and the live corpus's replies to a question (the draft's is None when it is broken)."""
        live = self._tried(self.bot.brain, text)
        files = self.draft_files()
        if self.check(files).errors:
            return None, live
        return self._tried(self.draft_brain(files), text), live

    def _tried(self, brain: Brain, text: str) -> Tried:
        reply = self._quiet_bot(brain).ask(text)
        candidates = brain.matcher.match(text).candidates
        second = candidates[1] if len(candidates) > 1 else None
        return Tried(reply, second.entry.id if second else None, second.confidence if second else 0.0)

    # --- the gate ---
    def gate(self, files: Mapping[str, str]) -> GateResult:
        """Validate the files and run every evaluation set on them and on the live corpus."""
        check = self.check(files)
        if check.errors:
            return GateResult(check, [])
        draft = self.draft_brain(files)
        live = self.bot.brain
        sets = []
        for name in self.bot.config.eval.sets:
            if name not in files:
                continue
            try:
                after = self._evaluate(draft, draft.corpus.directory / name)
            except EvalFileError as exc:
                sets.append(SetResult(name, False, False, 0.0, 0.0, error=str(exc)))
                continue
            try:
                before = self._evaluate(live, live.corpus.directory / name)
            except (EvalFileError, OSError):
                before = None
            thresholds = self.bot.config.eval.for_set(name)
            was = {f.key: f for f in _failures(before)} if before else {}
            now = {f.key: f for f in _failures(after)}
            sets.append(
                SetResult(
                    name,
                    after.meets(thresholds),
                    before.meets(thresholds) if before else False,
                    after.answerable_accuracy,
                    after.wrong_rate,
                    new=[f for k, f in now.items() if k not in was or was[k].got != f.got],
                    fixed=[f for k, f in was.items() if k not in now],
                )
            )
        return GateResult(check, sets)

    def _evaluate(self, brain: Brain, path: Path) -> Report:
        """One set's report on one corpus, remembered while neither changes (a run takes seconds)."""
        key = (brain.signature, brain.loaded_at, str(path), path.read_bytes())
        if key not in self._reports:
            bot = self._quiet_bot(brain)
            self._reports[key] = evaluate_bot(bot, path)
            while len(self._reports) > 16:
                self._reports.popitem(last=False)
        return self._reports[key]

    # --- publishing and versions ---
    def publish(
        self,
        files: Mapping[str, str],
        user: str,
        note: str,
        kind: str = "publish",
        revision: int | None = None,
    ) -> GateResult:
        """Go live with the files when the gate passes: write them, record a version, reload this worker.

        One publish at a time across every worker sharing the store; with `revision` (the draft the editor
        reviewed), a draft changed since is refused rather than published unseen.
        """
        token = self.store.take_publish_lock(user)
        if token is None:
            holder = self.store.publish_lock() or {}
            since = time.strftime("%H:%M", time.localtime(holder.get("time", self.clock())))
            reason = (
                f"{holder.get('user') or 'another editor'} is publishing (since {since}); nothing was "
                "changed. Wait until that publish is finished, look at the draft again, then publish"
            )
            reason_zh = (
                f"{holder.get('user') or '另一位编辑'}正在发布（{since} 开始），本次没有做任何更改。"
                "请等那次发布完成、重新查看草稿后再发布"
            )
            return self._refused(user, kind, reason, reason_zh)
        try:
            if revision is not None and draft_revision(self.store.draft()) != revision:
                conflict = self._conflict()
                reason = (
                    f"the draft was changed by {conflict.user} at {conflict.when} after you opened this page; "
                    "nothing was published. Look at the changes below and publish again"
                )
                reason_zh = (
                    f"您打开此页面后，{conflict.user} 于 {conflict.when} 修改了草稿，本次没有发布。"
                    "请查看下面的改动后再发布"
                )
                return self._refused(user, kind, reason, reason_zh)
            return self._publish_locked(files, user, note, kind, revision)
        finally:
            self.store.release_publish_lock(token)

    def _refused(self, user: str, kind: str, reason: str, reason_zh: str = "") -> GateResult:
        self.store.audit(user, f"{kind} refused", reason)
        return GateResult(DraftCheck([], 0), [], refused=reason, refused_zh=reason_zh)

    def _publish_locked(
        self, files: Mapping[str, str], user: str, note: str, kind: str, revision: int | None
    ) -> GateResult:
        result = self.gate(files)
        if not result.passed:
            self.store.audit(user, f"{kind} refused", "; ".join(result.reasons))
            return result
        marker = self.corpus_dir / APPLIED_MARKER
        if self.store.latest_version() == 0:
            baseline = self.store.publish(
                self.live_files(), "", "the corpus before the first publish", "baseline"
            )
            marker.write_text(str(baseline), encoding="utf-8")
        # The version is stored before the files are written: another worker's watcher that sees it first
        # writes the same files, never older ones.
        number = self.store.publish(dict(files), user, note, kind)
        write_corpus_files(self.corpus_dir, files)
        marker.write_text(str(number), encoding="utf-8")
        for name in self.bot.config.eval.sets:
            if name in files:
                brain = self.draft_brain(files)
                report = self._evaluate(brain, brain.corpus.directory / name)
                self.store.save_published_failures(name, failure_records(report))
        # With `revision`, only the draft that was published: an edit saved meanwhile stays for the next one.
        self.store.drop_draft(revision)
        self.store.audit(user, kind, f"version {number}: {note}")
        self.bot.reload()
        return result

    def rollback_files(self, number: int) -> dict[str, str] | None:
        return self.store.version_files(number)

    def version_diff(self, number: int) -> str:
        files = self.store.version_files(number) or {}
        previous = self.store.version_files(number - 1) or {} if number > 1 else {}
        return files_diff(previous, files)

    # --- inbox ---
    def inbox(self, since: float | None = None) -> list[InboxGroup]:
        """Declined, "did you mean" and low-confidence questions, grouped, unmarked and still not answered."""
        records = self.bot.storage.questions(since=since)
        wanted = [r for r in records if _needs_staff(r, self.bot.config.match.answer_threshold)]
        picked = _picked_suggestions(records)
        marks = self.store.marks()
        groups: list[InboxGroup] = []
        for record in sorted(wanted, key=lambda r: r.time, reverse=True):
            key = self._normaliser.normalise(record.text)
            home = next((g for g in groups if fuzz.token_set_ratio(key, g.key) >= SIMILAR), None)
            if home is None:
                home = InboxGroup(key=key)
                groups.append(home)
            home.texts[record.text] += 1
            home.outcomes[record.outcome] += 1
            home.langs[record.lang] += 1
            if record.best_id:
                home.offered[record.best_id] += 1
            if record.faq_id:
                home.offered[record.faq_id] += 1
            if id(record) in picked:
                home.picked[picked[id(record)]] += 1
                home.offered[picked[id(record)]] += 2  # what families chose is the likeliest home
            home.last_asked = max(home.last_asked, record.time)
        matcher = self.bot.brain.matcher
        threshold = self.bot.config.match.answer_threshold
        shown = []
        for group in groups:
            if group_id(group.key) in marks:
                continue
            verdict = matcher.match(group.sample)
            if verdict.decision == "answer" and verdict.confidence >= threshold + LOW_CONFIDENCE_MARGIN:
                continue  # the live corpus now answers it confidently
            for candidate in verdict.candidates[:3]:
                group.offered[candidate.entry.id] += 0
            shown.append(group)
        return sorted(shown, key=lambda g: -g.last_asked)

    def mark_group(self, key: str, action: str, user: str) -> None:
        self.store.mark(group_id(key), action, user)
        self.store.audit(user, f"inbox {action}", key)


def group_id(key: str) -> str:
    """A short stable name for an inbox group, safe in URLs and store keys."""
    import hashlib

    return hashlib.sha256(key.encode()).hexdigest()[:16]


def _picked_suggestions(records: list[QuestionRecord]) -> dict[int, str]:
    """For "did you mean" replies, the entry the family then chose by its number (by the record's id())."""
    picked: dict[int, str] = {}
    waiting: dict[str, QuestionRecord] = {}
    for record in sorted(records, key=lambda r: r.time):
        if record.outcome == "suggested":
            waiting[record.user] = record
        elif record.user in waiting:
            asked = waiting.pop(record.user)
            if record.outcome == "answered" and record.faq_id and NUMBER.match(record.text.strip()):
                picked[id(asked)] = record.faq_id
    return picked


def _needs_staff(record: QuestionRecord, answer_threshold: float) -> bool:
    if record.outcome in ("declined", "suggested"):
        return True
    return record.outcome == "answered" and record.score < answer_threshold + LOW_CONFIDENCE_MARGIN


def failure_records(report: Report) -> list[dict]:
    """A run's failures as a publish stores them, for `eval` to compare later runs with."""
    return [asdict(f) for f in _failures(report)]


def _failures(report: Report) -> list[Failure]:
    return [
        Failure(
            o.item.q,
            o.item.lang,
            o.item.ids or tuple(" | ".join(group) for group in o.item.expect),
            o.kind,
            o.reply.faq_id,
            o.reply.confidence,
        )
        for o in report.failures()
    ]


def _placed(problem: Problem) -> FieldProblem:
    """A `validate` problem placed on its entry and field rather than a line number."""
    message = problem.message
    entry = None
    found = ENTRY_LABEL.match(message)
    if found:
        entry, message = found.group(1), message[found.end() :]
    field_name = lang = None
    named = FIELD.search(message)
    if named:
        field_name = named.group(1)
        lang = named.group(2) if named.group(2) in LANGS else None
    return FieldProblem(message, problem.severity, entry, field_name, lang, problem.file)


def files_diff(before: Mapping[str, str], after: Mapping[str, str]) -> str:
    """A unified diff of two sets of corpus files."""
    out = []
    for name in sorted(set(before) | set(after)):
        a, b = before.get(name, ""), after.get(name, "")
        if a != b:
            out += difflib.unified_diff(a.splitlines(True), b.splitlines(True), f"a/{name}", f"b/{name}", n=2)
    return "".join(out)


def apply_published(store: ConsoleStore, corpus_dir: Path) -> int | None:
    """Bring this server's corpus folder up to the newest published version; the number applied, or None.

    Called from the corpus watcher: with Redis, another server may have published; the file watcher then
    reloads as for any change.
    """
    latest = store.latest_version()
    marker = corpus_dir / APPLIED_MARKER
    try:
        applied = int(marker.read_text(encoding="utf-8").strip() or 0)
    except (OSError, ValueError):
        applied = 0
    if latest <= applied:
        return None
    files = store.version_files(latest)
    if files is None:
        return None
    write_corpus_files(corpus_dir, files)
    marker.write_text(str(latest), encoding="utf-8")
    return latest


@dataclass
class SincePublished:
    """An evaluation run against the failures stored at the last publish from the console."""

    new: list[Failure] = field(default_factory=list)
    fixed: list[dict] = field(default_factory=list)
    note: str = ""  # why there is nothing to compare with

    def __str__(self) -> str:
        if self.note:
            return self.note
        lines = [f"since the last publish: {len(self.new)} new failure(s), {len(self.fixed)} fixed"]
        lines += [
            f"  new [{f.kind}] {f.question!r}: expected {'/'.join(f.expected) or 'decline'}, got "
            f"{f.got or 'no answer'}"
            for f in self.new
        ]
        lines += [f"  fixed {f['question']!r}" for f in self.fixed]
        return "\n".join(lines)


def compare_with_published(storage_url: str, set_name: str, report: Report) -> SincePublished:
    """For `python -m bot eval`: the failures new and fixed since the last publish from the console."""
    from bot.console.store import ConsoleStoreError, open_console_store

    try:
        before = open_console_store(storage_url).published_failures(set_name)
    except ConsoleStoreError as exc:
        return SincePublished(note=f"(no comparison with the last publish: {exc})")
    if before is None:
        return SincePublished(note="(no publish from the console yet to compare with)")
    was = {(f["question"], f["lang"]): f for f in before}
    now = {f.key: f for f in _failures(report)}
    new = [f for k, f in now.items() if k not in was or was[k]["got"] != f.got]
    fixed = [f for k, f in was.items() if k not in now]
    return SincePublished(new, fixed)
