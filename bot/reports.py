"""Staff reports over the question log: the unanswered questions (the console's inbox) and usage statistics."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime

from bot.config import Config
from bot.storage import Storage, StorageError, open_storage


def parse_since(value: str | None) -> float | None:
    """A YYYY-MM-DD date (UTC) as epoch seconds; None for no bound."""
    if not value:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC).timestamp()
    except ValueError as exc:
        raise ValueError(f"--since must be a date such as 2026-06-25, got {value!r}") from exc


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


def _storage(args: argparse.Namespace) -> Storage:
    return open_storage(args.config_of(args).storage)


def cmd_unanswered(args: argparse.Namespace) -> int:
    from bot.console.commands import run_unanswered

    try:
        since = parse_since(args.since)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return run_unanswered(args.config_of(args), since, args.limit, args.csv, args.dismiss or [])


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
        "unanswered",
        help="questions the bot did not answer well (declined, 'did you mean', low confidence), grouped by "
        "similarity as in the console's inbox, most asked first; groups handled in the console or now "
        "answered confidently are left out",
    )
    unanswered.add_argument("--since", help="only questions from this date (YYYY-MM-DD, UTC)")
    unanswered.add_argument("--csv", help="write the groups to this CSV file (opens in Excel)")
    unanswered.add_argument("--limit", type=int, default=50, help="groups to print (default 50)")
    unanswered.add_argument(
        "--dismiss",
        action="append",
        metavar="GROUP",
        help="mark a group handled (the id in [brackets]; may be repeated); it leaves the inbox too",
    )
    unanswered.add_argument("--inbox", action="store_true", help=argparse.SUPPRESS)  # the former name
    unanswered.set_defaults(func=cmd_unanswered, config_of=config_of)
    stats = sub.add_parser("stats", help="questions per day, entry, language and channel; outcome rates")
    stats.add_argument("--since", help="only questions from this date (YYYY-MM-DD, UTC)")
    stats.set_defaults(func=cmd_stats, config_of=config_of)
