"""Staff reports over the question log: declined questions grouped, and usage statistics."""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from rapidfuzz import fuzz

from bot.config import Config
from bot.storage import QuestionRecord, Storage, StorageError, open_storage
from bot.text import TextNormaliser

SIMILAR = 80
"""Two declined questions this similar (0-100) are shown as one group."""


@dataclass
class UnansweredGroup:
    """Declined questions that ask the same thing, most recent first within the group."""

    texts: Counter[str] = field(default_factory=Counter)
    key: str = ""
    nearest: str | None = None
    nearest_score: float = 0.0
    langs: Counter[str] = field(default_factory=Counter)
    last_asked: float = 0.0

    @property
    def count(self) -> int:
        return sum(self.texts.values())

    def add(self, record: QuestionRecord) -> None:
        self.texts[record.text] += 1
        self.langs[record.lang] += 1
        self.last_asked = max(self.last_asked, record.time)
        if record.best_id and record.score >= self.nearest_score:
            self.nearest, self.nearest_score = record.best_id, record.score


def parse_since(value: str | None) -> float | None:
    """A YYYY-MM-DD date (UTC) as epoch seconds; None for no bound."""
    if not value:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC).timestamp()
    except ValueError as exc:
        raise ValueError(f"--since must be a date such as 2026-06-25, got {value!r}") from exc


def group_unanswered(records: list[QuestionRecord], normaliser: TextNormaliser) -> list[UnansweredGroup]:
    """Group declined questions by similarity of their normalised text, most frequent group first."""
    groups: list[UnansweredGroup] = []
    for record in sorted(records, key=lambda r: r.time):
        key = normaliser.normalise(record.text)
        home = next((g for g in groups if fuzz.token_set_ratio(key, g.key) >= SIMILAR), None)
        if home is None:
            home = UnansweredGroup(key=key)
            groups.append(home)
        home.add(record)
    return sorted(groups, key=lambda g: (-g.count, -g.last_asked))


def usage_stats(storage: Storage, since: str | None = None) -> dict:
    """Questions per day, entry, language and channel, and the answered / suggested / declined rates.

    The backend counts (SQLite in SQL), so a long log is never read into Python record by record.
    """
    counts = storage.question_counts(since=parse_since(since))
    outcomes = Counter(counts.outcomes)
    total = counts.total
    return {
        "questions": total,
        "rates": {k: round(outcomes[k] / total, 4) if total else 0.0 for k in OUTCOMES},
        "outcomes": {k: outcomes[k] for k in OUTCOMES},
        "per_day": dict(sorted(counts.per_day.items())),
        "per_entry": dict(Counter(counts.per_entry).most_common()),
        "per_language": dict(Counter(counts.per_language).most_common()),
        "per_channel": dict(Counter(counts.per_channel).most_common()),
    }


OUTCOMES = ("answered", "suggested", "declined", "smalltalk")


def _day(epoch: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(epoch))


def _storage(args: argparse.Namespace) -> Storage:
    return open_storage(args.config_of(args).storage)


def cmd_unanswered(args: argparse.Namespace) -> int:
    if args.inbox:
        from bot.console.commands import print_inbox

        try:
            since = parse_since(args.since)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        return print_inbox(args.config_of(args), since, args.limit)
    storage = _storage(args)
    try:
        records = storage.questions(since=parse_since(args.since), outcome="declined")
    except (ValueError, StorageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    groups = group_unanswered(records, TextNormaliser())
    if args.csv:
        with Path(args.csv).open("w", newline="", encoding="utf-8-sig") as fh:
            writer = csv.writer(fh)
            writer.writerow(
                ["count", "question", "other wordings", "nearest entry", "score", "languages", "last asked"]
            )
            for g in groups:
                (top, _), *rest = g.texts.most_common()
                writer.writerow(
                    [
                        g.count,
                        top,
                        " | ".join(t for t, _ in rest[:5]),
                        g.nearest or "",
                        round(g.nearest_score, 1),
                        " ".join(sorted(g.langs)),
                        _day(g.last_asked),
                    ]
                )
        print(f"{len(groups)} groups of {len(records)} declined questions written to {args.csv}")
        return 0
    print(f"{len(records)} declined questions in {len(groups)} groups, most frequent first")
    for g in groups[: args.limit]:
        (top, _), *rest = g.texts.most_common()
        nearest = f"nearest {g.nearest} ({g.nearest_score:.0f})" if g.nearest else "no near entry"
        print(f"{g.count:5d}  {top}   [{nearest}; last {_day(g.last_asked)}]")
        for text, _ in rest[:3]:
            print(f"       also: {text}")
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    try:
        stats = usage_stats(_storage(args), args.since)
    except (ValueError, StorageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"questions: {stats['questions']}")
    print("outcomes: " + ", ".join(f"{k} {stats['outcomes'][k]} ({stats['rates'][k]:.1%})" for k in OUTCOMES))
    for title, key in (("per language", "per_language"), ("per channel", "per_channel")):
        print(f"{title}: " + ", ".join(f"{k} {v}" for k, v in stats[key].items()))
    print("per day:")
    for day, count in stats["per_day"].items():
        print(f"  {day}  {count}")
    print("most asked entries:")
    for entry, count in list(stats["per_entry"].items())[:20]:
        print(f"  {count:5d}  {entry}")
    return 0


def add_report_commands(
    sub: argparse._SubParsersAction, config_of: Callable[[argparse.Namespace], Config]
) -> None:
    """Register the report commands (unanswered, stats) on the CLI; config_of reads the chosen config."""
    unanswered = sub.add_parser(
        "unanswered", help="declined questions grouped by similarity, most frequent first"
    )
    unanswered.add_argument("--since", help="only questions from this date (YYYY-MM-DD, UTC)")
    unanswered.add_argument("--csv", help="write the groups to this CSV file (opens in Excel)")
    unanswered.add_argument("--limit", type=int, default=50, help="groups to print (default 50)")
    unanswered.add_argument(
        "--inbox",
        action="store_true",
        help="as the console's inbox: also 'did you mean' and low-confidence answers; newest first; "
        "groups handled in the console or now answered confidently left out",
    )
    unanswered.set_defaults(func=cmd_unanswered, config_of=config_of)
    stats = sub.add_parser("stats", help="questions per day, entry, language and channel; outcome rates")
    stats.add_argument("--since", help="only questions from this date (YYYY-MM-DD, UTC)")
    stats.set_defaults(func=cmd_stats, config_of=config_of)
