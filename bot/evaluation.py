"""Evaluation on the labelled question set: what the bot gets right before a change goes live."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from bot.config import EvalThresholds
from bot.corpus import Corpus, read_yaml, strip_lines
from bot.dialogue import Reply


class EvalFileError(ValueError):
    """The evaluation file is unreadable or an item is malformed."""


@dataclass(frozen=True)
class EvalItem:
    """One labelled question: the ids that answer it (empty: it must be declined)."""

    q: str
    ids: tuple[str, ...]
    lang: str
    style: str
    line: int

    @property
    def answerable(self) -> bool:
        return bool(self.ids)


@dataclass(frozen=True)
class Outcome:
    """How the bot did on one item."""

    item: EvalItem
    reply: Reply

    @property
    def kind(self) -> str:
        """ok | wrong (answered with another entry) | missed (not answered) | false (answered out of scope)."""
        if not self.item.answerable:
            return "false" if self.reply.matched else "ok"
        if not self.reply.matched:
            return "missed"
        if self.reply.faq_id not in self.item.ids:
            return "wrong"
        return "ok" if self.reply.lang == self.item.lang else "wrong-language"


@dataclass
class Report:
    """Figures of one evaluation run."""

    outcomes: list[Outcome]
    overlaps: list[str] = field(default_factory=list)

    def _rate(self, rows: Iterable[Outcome]) -> tuple[int, int]:
        rows = list(rows)
        return sum(o.kind == "ok" for o in rows), len(rows)

    @property
    def answerable_accuracy(self) -> float:
        ok, n = self._rate(o for o in self.outcomes if o.item.answerable)
        return ok / n if n else 1.0

    @property
    def wrong_rate(self) -> float:
        wrong = sum(o.kind in ("wrong", "false", "wrong-language") for o in self.outcomes)
        return wrong / len(self.outcomes) if self.outcomes else 0.0

    @property
    def oos_declined(self) -> float:
        ok, n = self._rate(o for o in self.outcomes if not o.item.answerable)
        return ok / n if n else 1.0

    def by(self, key: str) -> dict[str, tuple[int, int]]:
        groups: dict[str, list[Outcome]] = defaultdict(list)
        for o in self.outcomes:
            groups[getattr(o.item, key)].append(o)
        return {name: self._rate(rows) for name, rows in sorted(groups.items())}

    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.kind != "ok"]

    def meets(self, thresholds: EvalThresholds) -> bool:
        return (
            self.answerable_accuracy >= thresholds.min_answerable_accuracy
            and self.wrong_rate <= thresholds.max_wrong_rate
            and self.oos_declined >= thresholds.min_oos_declined
        )


def load_eval_items(path: Path, corpus: Corpus | None = None) -> list[EvalItem]:
    """Read eval.yaml; unknown ids and malformed items are errors naming the line."""
    data, problems = read_yaml(path)
    if problems:
        raise EvalFileError(str(problems[0]))
    raw_items = data.get("items") if isinstance(data, dict) else None
    if not isinstance(raw_items, list):
        raise EvalFileError(f"{path.name}: expected `items:`, a list of questions")
    known = corpus.by_id() if corpus else None
    items = []
    for raw in raw_items:
        line = raw.get("__line__", 0) if isinstance(raw, dict) else 0
        if not isinstance(raw, dict) or not str(raw.get("q") or "").strip():
            raise EvalFileError(f"{path.name}:{line}: an item needs a non-empty `q`")
        value = strip_lines(raw.get("id"))
        ids = tuple(str(x) for x in value) if isinstance(value, list) else ((str(value),) if value else ())
        for entry_id in ids:
            if known is not None and entry_id not in known:
                raise EvalFileError(f"{path.name}:{line}: unknown entry id {entry_id!r}")
        lang = str(raw.get("lang") or "")
        if lang not in ("en", "zh"):
            raise EvalFileError(f"{path.name}:{line}: `lang` must be en or zh, got {lang!r}")
        items.append(EvalItem(str(raw["q"]).strip(), ids, lang, str(raw.get("style") or "unlabelled"), line))
    return items


def alternate_overlaps(items: list[EvalItem], corpus: Corpus, normalise) -> list[str]:
    """Evaluation questions that are copies of corpus phrasings (they would flatter the figures)."""
    owners = {normalise(text): entry.id for entry in corpus.entries for text, _ in entry.phrasings()}
    return [
        f"line {item.line}: {item.q!r} is also a phrasing of {owners[normalise(item.q)]!r}"
        for item in items
        if normalise(item.q) in owners
    ]


def evaluate(items: list[EvalItem], ask) -> Report:
    """Ask every question in a fresh session and collect the outcomes."""
    return Report([Outcome(item, ask(item.q)) for item in items])


def format_report(report: Report, thresholds: EvalThresholds, show_all_failures: bool = True) -> str:
    """A plain-text report for staff."""
    n = len(report.outcomes)
    answerable = [o for o in report.outcomes if o.item.answerable]
    oos = [o for o in report.outcomes if not o.item.answerable]
    ok = sum(o.kind == "ok" for o in report.outcomes)
    kinds = defaultdict(int)
    for o in report.outcomes:
        kinds[o.kind] += 1
    lines = [
        f"questions: {n} ({len(answerable)} answerable, {len(oos)} out of scope)",
        f"overall accuracy: {_pct(ok, n)}",
        f"answerable answered with the right entry: {_pct(sum(o.kind == 'ok' for o in answerable), len(answerable))}"
        f"  (threshold {thresholds.min_answerable_accuracy:.0%})",
        f"answered wrongly (wrong entry, wrong language or out of scope answered): "
        f"{_pct(kinds['wrong'] + kinds['false'] + kinds['wrong-language'], n)}"
        f"  (threshold at most {thresholds.max_wrong_rate:.0%})",
        f"out-of-scope declined: {_pct(sum(o.kind == 'ok' for o in oos), len(oos))}"
        f"  (threshold {thresholds.min_oos_declined:.0%})",
        f"wrong entry: {kinds['wrong']}, wrong language: {kinds['wrong-language']}, "
        f"declined but answerable: {kinds['missed']}, out of scope answered: {kinds['false']}",
        "by language: " + ", ".join(f"{k} {_pct(*v)}" for k, v in report.by("lang").items()),
        "by style: " + ", ".join(f"{k} {_pct(*v)}" for k, v in report.by("style").items()),
    ]
    if report.overlaps:
        lines.append(f"overlap with corpus phrasings ({len(report.overlaps)}):")
        lines += [f"  {o}" for o in report.overlaps]
    failures = report.failures()
    if failures and show_all_failures:
        lines.append(f"failures ({len(failures)}):")
        for o in failures:
            expected = "/".join(o.item.ids) or "decline"
            got = o.reply.faq_id or f"{o.reply.kind}" + (
                f" (best {o.reply.best_id})" if o.reply.best_id else ""
            )
            lines.append(
                f"  [{o.kind}] line {o.item.line} [{o.item.lang}/{o.item.style}] {o.item.q!r}: "
                f"expected {expected}, got {got} at {o.reply.confidence:.0f}"
            )
    lines.append("PASS: meets the thresholds" if report.meets(thresholds) else "FAIL: below the thresholds")
    return "\n".join(lines)


def _pct(ok: int, n: int) -> str:
    return f"{100 * ok / n:.1f}% ({ok}/{n})" if n else "n/a"
