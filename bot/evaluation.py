"""Evaluation on labelled question sets: what the bot gets right before a change goes live.

Two kinds of label are read. The corpus authors' sets (`eval.yaml`, `holdout.yaml`) name the entry that
answers (`id`). Blind sets, written from the source documents by people who never saw the corpus, say what a
right answer contains instead (`expect`: substrings, any of which must appear; a list of such lists for a
message that asks several things, every one of which must be answered), and may forbid an opening
(`forbid_start`: a "Yes" to a question whose answer is no). Both kinds give the same figures.
"""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from bot.config import BlindThresholds, EvalThresholds
from bot.corpus import Corpus, read_yaml, strip_lines
from bot.dialogue import Reply

AnswerLookup = Callable[[str, str, "str | None"], str]
"""(entry id, language, entity) -> the entry's answer, to see whether a suggestion would have been right."""

CALIBRATION_STEPS = (90, 80, 70, 60, 50, 40)
_NOISE = re.compile(r"[\s,，]+")


class EvalFileError(ValueError):
    """The evaluation file is unreadable or an item is malformed."""


def normalise_for_expect(text: str) -> str:
    """Both sides of a substring check: whitespace and commas removed, lower case (as the scoring tool does)."""
    return _NOISE.sub("", text).lower()


@dataclass(frozen=True)
class EvalItem:
    """One labelled question: the ids that answer it, or what a right answer contains; neither: decline it."""

    q: str
    ids: tuple[str, ...]
    lang: str
    style: str
    line: int
    expect: tuple[tuple[str, ...], ...] = ()
    forbid_start: tuple[str, ...] = ()
    topic: str = ""
    author: str = ""

    @property
    def answerable(self) -> bool:
        return bool(self.ids) or bool(self.expect)

    @property
    def parts(self) -> int:
        """How many questions the message asks (each must be answered)."""
        return max(1, len(self.expect))

    def right_text(self, text: str) -> bool:
        """True when an answer's text holds every expected fact and no forbidden opening."""
        normal = normalise_for_expect(text)
        if any(normal.startswith(normalise_for_expect(f)) for f in self.forbid_start):
            return False
        return all(any(normalise_for_expect(s) in normal for s in group) for group in self.expect)

    def parts_right(self, text: str) -> int:
        """How many of the message's questions the text answers."""
        normal = normalise_for_expect(text)
        return sum(any(normalise_for_expect(s) in normal for s in group) for group in self.expect)


@dataclass(frozen=True)
class Outcome:
    """How the bot did on one item."""

    item: EvalItem
    reply: Reply
    suggested_right: bool = False

    @property
    def kind(self) -> str:
        """ok | wrong | wrong-language | suggested (a "did you mean" list) | missed | false | partial.

        wrong: answered with another entry or an answer lacking the expected fact; false: answered a question
        that had to be declined; partial: some of a message's questions answered, not all.
        """
        item, reply = self.item, self.reply
        if not item.answerable:
            return "false" if reply.matched else "ok"
        if reply.kind == "suggest":
            return "suggested"
        if not reply.matched:
            return "missed"
        if item.expect:
            if not item.right_text(reply.text):
                if item.parts > 1 and item.parts_right(reply.text) > 0 and not self.forbidden_opening:
                    return "partial"
                return "wrong"
        elif reply.faq_id not in item.ids and not any(p.faq_id in item.ids for p in reply.parts):
            return "wrong"  # a reply that gives two close answers is right when one of them is
        return "ok" if reply.lang == item.lang else "wrong-language"

    @property
    def forbidden_opening(self) -> bool:
        """True when the answer opens with what the item forbids (a wrong yes or no)."""
        normal = normalise_for_expect(self.reply.text)
        return self.reply.matched and any(
            normal.startswith(normalise_for_expect(f)) for f in self.item.forbid_start
        )

    @property
    def one_tap(self) -> bool:
        """Right answer given, or offered among the suggestions (one tap away)."""
        return self.kind == "ok" or (self.kind == "suggested" and self.suggested_right)


@dataclass(frozen=True)
class EvalDialogue:
    """A conversation: every turn must be right in its context."""

    name: str
    turns: tuple[EvalItem, ...]


@dataclass
class Report:
    """Figures of one evaluation run."""

    outcomes: list[Outcome]
    overlaps: list[str] = field(default_factory=list)
    dialogues: list[tuple[EvalDialogue, list[Outcome]]] = field(default_factory=list)
    name: str = ""

    def _rate(self, rows: Iterable[Outcome]) -> tuple[int, int]:
        rows = list(rows)
        return sum(o.kind == "ok" for o in rows), len(rows)

    @property
    def answerable(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.item.answerable]

    @property
    def single(self) -> list[Outcome]:
        """Answerable items that ask one thing."""
        return [o for o in self.answerable if o.item.parts == 1]

    @property
    def multi(self) -> list[Outcome]:
        """Items that ask two or more things in one message."""
        return [o for o in self.answerable if o.item.parts > 1]

    @property
    def answerable_accuracy(self) -> float:
        """Share of answerable questions answered directly and rightly (no list, no decline)."""
        ok, n = self._rate(self.answerable)
        return ok / n if n else 1.0

    @property
    def suggest_rate(self) -> float:
        """Share of answerable questions given a "did you mean" list instead of an answer."""
        rows = self.answerable
        return sum(o.kind == "suggested" for o in rows) / len(rows) if rows else 0.0

    @property
    def one_tap_rate(self) -> float:
        """Share of answerable questions whose right answer is given or offered."""
        rows = self.answerable
        return sum(o.one_tap for o in rows) / len(rows) if rows else 1.0

    @property
    def wrong_rate(self) -> float:
        """Share of all questions answered with confidence and wrongly (a partial answer is not wrong)."""
        wrong = sum(o.kind in ("wrong", "false", "wrong-language") for o in self.outcomes)
        return wrong / len(self.outcomes) if self.outcomes else 0.0

    @property
    def wrong_yes_no(self) -> int:
        """Answers that open with a yes or no the item forbids."""
        return sum(o.forbidden_opening for o in self.outcomes)

    @property
    def oos_declined(self) -> float:
        ok, n = self._rate(o for o in self.outcomes if not o.item.answerable)
        return ok / n if n else 1.0

    @property
    def dialogues_right(self) -> tuple[int, int]:
        return sum(all(o.kind == "ok" for o in turns) for _, turns in self.dialogues), len(self.dialogues)

    def by(self, key: str) -> dict[str, tuple[int, int]]:
        groups: dict[str, list[Outcome]] = defaultdict(list)
        for o in self.outcomes:
            groups[getattr(o.item, key)].append(o)
        return {name: self._rate(rows) for name, rows in sorted(groups.items())}

    def failures(self) -> list[Outcome]:
        turns = [o for _, outcomes in self.dialogues for o in outcomes]
        return [o for o in self.outcomes + turns if o.kind != "ok"]

    def calibration(self) -> list[tuple[int, int, int]]:
        """(x, answers given at confidence >= x, of them right): how far a confidence can be trusted."""
        answered = [o for o in self.outcomes if o.reply.matched and o.item.parts == 1]
        rows = []
        for step in CALIBRATION_STEPS:
            given = [o for o in answered if o.reply.confidence >= step]
            rows.append((step, len(given), sum(o.kind == "ok" for o in given)))
        return rows

    def meets(self, thresholds: EvalThresholds | BlindThresholds) -> bool:
        return (
            self.answerable_accuracy >= thresholds.min_answerable_accuracy
            and self.wrong_rate <= thresholds.max_wrong_rate
            and self.oos_declined >= thresholds.min_oos_declined
            and self.suggest_rate <= thresholds.max_suggest_rate
            and self.one_tap_rate >= thresholds.min_one_tap
        )


def _groups(value) -> tuple[tuple[str, ...], ...]:
    """`expect` as groups: a list of strings is one group, a list of lists several (one per question)."""
    if value is None:
        return ()
    if isinstance(value, str):
        return ((value,),)
    if isinstance(value, list) and value and all(isinstance(v, list) for v in value):
        return tuple(tuple(str(s) for s in group) for group in value if group)
    if isinstance(value, list):
        return (tuple(str(s) for s in value),) if value else ()
    raise EvalFileError(f"`expect` must be a list of strings or a list of lists, got {value!r}")


def _item(raw, path: Path, known, default_lang: str | None = None, author: str = "") -> EvalItem:
    line = raw.get("__line__", 0) if isinstance(raw, dict) else 0
    if not isinstance(raw, dict) or not str(raw.get("q") or "").strip():
        raise EvalFileError(f"{path.name}:{line}: an item needs a non-empty `q`")
    value = strip_lines(raw.get("id"))
    ids = tuple(str(x) for x in value) if isinstance(value, list) else ((str(value),) if value else ())
    for entry_id in ids:
        if known is not None and entry_id not in known:
            raise EvalFileError(f"{path.name}:{line}: unknown entry id {entry_id!r}")
    try:
        expect = _groups(strip_lines(raw.get("expect")))
    except EvalFileError as exc:
        raise EvalFileError(f"{path.name}:{line}: {exc}") from None
    lang = str(raw.get("lang") or default_lang or "")
    if lang not in ("en", "zh"):
        raise EvalFileError(f"{path.name}:{line}: `lang` must be en or zh, got {lang!r}")
    forbid = strip_lines(raw.get("forbid_start")) or ()
    return EvalItem(
        str(raw["q"]).strip(),
        ids,
        lang,
        str(raw.get("style") or "unlabelled"),
        line,
        expect,
        tuple(str(f) for f in forbid),
        str(raw.get("topic") or ""),
        author,
    )


def load_eval_set(path: Path, corpus: Corpus | None = None) -> tuple[list[EvalItem], list[EvalDialogue]]:
    """Items and dialogues of an evaluation file; unknown ids and malformed items are errors naming the line."""
    data, problems = read_yaml(path)
    if problems:
        raise EvalFileError(str(problems[0]))
    raw_items = data.get("items") if isinstance(data, dict) else None
    if not isinstance(raw_items, list):
        raise EvalFileError(f"{path.name}: expected `items:`, a list of questions")
    known = corpus.by_id() if corpus else None
    author = str(data.get("author") or path.stem)
    items = [_item(raw, path, known, author=author) for raw in raw_items]
    dialogues = []
    for raw in data.get("dialogues") or []:
        if not isinstance(raw, dict) or not isinstance(raw.get("turns"), list):
            raise EvalFileError(f"{path.name}: a dialogue needs `name` and `turns`")
        lang = raw.get("lang")
        turns = tuple(_item(t, path, known, lang, author) for t in raw["turns"])
        dialogues.append(EvalDialogue(str(raw.get("name") or f"dialogue-{len(dialogues) + 1}"), turns))
    return items, dialogues


def load_eval_items(path: Path, corpus: Corpus | None = None) -> list[EvalItem]:
    """The single items of an evaluation file (dialogues left out)."""
    return load_eval_set(path, corpus)[0]


def alternate_overlaps(items: list[EvalItem], corpus: Corpus, normalise) -> list[str]:
    """Evaluation questions that are copies of corpus phrasings (they would flatter the figures)."""
    owners = {normalise(text): entry.id for entry in corpus.entries for text, _ in entry.phrasings()}
    return [
        f"line {item.line}: {item.q!r} is also a phrasing of {owners[normalise(item.q)]!r}"
        for item in items
        if normalise(item.q) in owners
    ]


def _suggested_right(item: EvalItem, reply: Reply, answers: AnswerLookup | None) -> bool:
    if reply.kind != "suggest":
        return False
    if item.ids:
        return any(s.id in item.ids for s in reply.suggestions)
    if answers is None:
        return False
    return any(item.right_text(answers(s.id, item.lang, reply.entity)) for s in reply.suggestions)


def evaluate(
    items: list[EvalItem],
    ask: Callable[..., Reply],
    answers: AnswerLookup | None = None,
    dialogues: list[EvalDialogue] | None = None,
) -> Report:
    """Ask every question in a fresh session (a dialogue's turns in one session) and collect the outcomes.

    `ask(q)` answers in a fresh session; `ask(q, session)` in the given one.
    """
    outcomes = []
    for item in items:
        reply = ask(item.q)
        outcomes.append(Outcome(item, reply, _suggested_right(item, reply, answers)))
    played = []
    for number, dialogue in enumerate(dialogues or []):
        session = f"dialogue-{number}-{dialogue.name}"
        turns = []
        for turn in dialogue.turns:
            reply = ask(turn.q, session)
            turns.append(Outcome(turn, reply, _suggested_right(turn, reply, answers)))
        played.append((dialogue, turns))
    return Report(outcomes, dialogues=played)


def evaluate_bot(bot, path: Path) -> Report:
    """One evaluation file's report for a FAQBot: every item in a fresh session, every dialogue in one."""
    items, dialogues = load_eval_set(path, bot.brain.corpus)
    counter = iter(range(10**9))
    entries = bot.brain.corpus.by_id()
    # Sessions are named per run, so one set's questions never inherit another set's conversations.
    run = uuid.uuid4().hex[:12]

    def ask(q: str, session: str | None = None) -> Reply:
        name = f"{run}-{session}" if session else f"{run}-eval-{next(counter)}"
        return bot.ask(q, session=name, channel="eval")

    def answer_of(entry_id: str, lang: str, entity: str | None) -> str:
        entry = entries.get(entry_id)
        return entry.answer_for(lang, entity) if entry else ""

    report = evaluate(items, ask, answer_of, dialogues)
    report.name = path.name
    report.overlaps = alternate_overlaps(
        items, bot.brain.corpus, bot.brain.matcher.analyser.normaliser.normalise
    )
    return report


def format_report(
    report: Report, thresholds: EvalThresholds | BlindThresholds, show_all_failures: bool = True
) -> str:
    """A plain-text report for staff."""
    n = len(report.outcomes)
    answerable = report.answerable
    oos = [o for o in report.outcomes if not o.item.answerable]
    kinds: dict[str, int] = defaultdict(int)
    for o in report.outcomes:
        kinds[o.kind] += 1
    single, multi = report.single, report.multi
    lines = [
        f"questions: {n} ({len(answerable)} answerable, {len(oos)} out of scope)"
        + (f"; {len(multi)} messages ask several things" if multi else ""),
        f"answered directly and rightly: {_pct(sum(o.kind == 'ok' for o in answerable), len(answerable))}"
        f"  (threshold {thresholds.min_answerable_accuracy:.0%})",
        f"  one-question messages: {_pct(sum(o.kind == 'ok' for o in single), len(single))}; "
        f"every part of several-question messages: {_pct(sum(o.kind == 'ok' for o in multi), len(multi))}",
        f'"did you mean" instead of an answer: {_pct(kinds["suggested"], len(answerable))}',
        f"right answer given or offered (one tap): {_pct(sum(o.one_tap for o in answerable), len(answerable))}",
        f"answered wrongly (wrong fact, wrong language or out of scope answered), of all questions: "
        f"{_pct(kinds['wrong'] + kinds['false'] + kinds['wrong-language'], n)}"
        f"  (threshold at most {thresholds.max_wrong_rate:.1%})",
        f"  of which a forbidden yes/no opening: {report.wrong_yes_no}",
        f"out-of-scope declined: {_pct(sum(o.kind == 'ok' for o in oos), len(oos))}"
        f"  (threshold {thresholds.min_oos_declined:.0%}); out of scope answered: {kinds['false']}",
        f"wrong: {kinds['wrong']}, wrong language: {kinds['wrong-language']}, partly answered: "
        f"{kinds['partial']}, did you mean: {kinds['suggested']}, declined but answerable: {kinds['missed']}",
        "by language: " + ", ".join(f"{k} {_pct(*v)}" for k, v in report.by("lang").items()),
        "by style: " + ", ".join(f"{k} {_pct(*v)}" for k, v in report.by("style").items()),
    ]
    if report.dialogues:
        lines.append(f"whole dialogues right: {_pct(*report.dialogues_right)}")
    lines.append(
        "calibration (answers given at confidence >= x: share right): "
        + ", ".join(f">={x}: {_pct(right, given)}" for x, given, right in report.calibration() if given)
    )
    if report.overlaps:
        lines.append(f"overlap with corpus phrasings ({len(report.overlaps)}):")
        lines += [f"  {o}" for o in report.overlaps]
    failures = report.failures()
    if failures and show_all_failures:
        lines.append(f"failures ({len(failures)}):")
        for o in failures:
            lines.append(_failure_line(o))
    lines.append("PASS: meets the thresholds" if report.meets(thresholds) else "FAIL: below the thresholds")
    return "\n".join(lines)


def _failure_line(o: Outcome) -> str:
    if o.item.ids:
        expected = "/".join(o.item.ids)
    elif o.item.expect:
        expected = " + ".join("|".join(group[:3]) for group in o.item.expect)
    else:
        expected = "decline"
    got = o.reply.faq_id or f"{o.reply.kind}" + (f" (best {o.reply.best_id})" if o.reply.best_id else "")
    if o.reply.kind == "suggest":
        got += " [" + ", ".join(s.id for s in o.reply.suggestions) + "]"
    return (
        f"  [{o.kind}] line {o.item.line} [{o.item.lang}/{o.item.style}] {o.item.q!r}: "
        f"expected {expected}, got {got} at {o.reply.confidence:.0f}"
    )


def _pct(ok: int, n: int) -> str:
    return f"{100 * ok / n:.1f}% ({ok}/{n})" if n else "n/a"
