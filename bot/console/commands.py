"""The console's inbox on the command line: `python -m bot unanswered` groups, hides and dismisses as it does."""

from __future__ import annotations

import csv
import getpass
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from bot.config import Config
from bot.console.service import Console, InboxGroup, group_id
from bot.console.store import ConsoleStoreError, open_console_store
from bot.engine import FAQBot
from bot.storage import StorageError, open_storage

SHOWN_ID = 8  # characters of a group's id printed; `--dismiss` takes any unambiguous start of one
CSV_HEADER = [
    "group",
    "count",
    "question",
    "other wordings",
    "outcomes",
    "likely entries",
    "languages",
    "last asked",
]


class GroupNotFound(ValueError):
    """A group named on the command line is not in the inbox (already handled, or mistyped)."""


def _day(epoch: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(epoch))


def _likely(group: InboxGroup) -> str:
    return ", ".join(i for i, _ in group.offered.most_common(3)) or "no near entry"


def _outcomes(group: InboxGroup) -> str:
    return ", ".join(f"{k} {n}" for k, n in group.outcomes.most_common())


def find_groups(groups: Sequence[InboxGroup], names: Sequence[str]) -> list[InboxGroup]:
    """The groups whose ids start with the given names, each of which must name exactly one group."""
    found = []
    for name in names:
        matching = [g for g in groups if group_id(g.key).startswith(name.strip().lower())]
        if len(name.strip()) < 4 or len(matching) != 1:
            why = "matches several groups" if len(matching) > 1 else "is not a group in the inbox"
            raise GroupNotFound(f"{name!r} {why}; copy the id in [brackets] from `python -m bot unanswered`")
        found.append(matching[0])
    return found


def write_inbox_csv(groups: Sequence[InboxGroup], path: Path) -> None:
    """The groups as a CSV file that Excel opens with its Chinese intact (UTF-8 with a byte-order mark)."""
    with path.open("w", newline="", encoding="utf-8-sig") as out:
        writer = csv.writer(out)
        writer.writerow(CSV_HEADER)
        for g in groups:
            others = " | ".join(text for text, _ in g.texts.most_common(6)[1:])
            langs = " ".join(sorted(g.langs))
            writer.writerow(
                [
                    group_id(g.key)[:SHOWN_ID],
                    g.count,
                    g.sample,
                    others,
                    _outcomes(g),
                    _likely(g),
                    langs,
                    _day(g.last_asked),
                ]
            )


def print_groups(groups: Sequence[InboxGroup], limit: int) -> None:
    print(f"{len(groups)} groups still to look at, most asked first")
    for g in groups[:limit]:
        print(f"{g.count:5d}  [{group_id(g.key)[:SHOWN_ID]}] {g.sample}")
        print(f"       {_outcomes(g)}; likely {_likely(g)}; last asked {_day(g.last_asked)}")
        for text, _ in g.texts.most_common(4)[1:]:
            print(f"       also: {text}")


def run_unanswered(
    config: Config, since: float | None, limit: int, csv_path: str | None, dismiss: Sequence[str]
) -> int:
    """Declined, "did you mean" and low-confidence questions grouped as in the console's inbox; groups
    handled in the console or answered confidently by the live corpus are left out."""
    storage = open_storage(config.storage)
    try:
        console = Console(FAQBot(config, storage), open_console_store(config.storage))
        groups = sorted(console.inbox(since=since), key=lambda g: (-g.count, -g.last_asked))
        if dismiss:
            chosen = find_groups(groups, dismiss)
            for group in chosen:
                console.mark_group(group.key, "dismiss", f"{getpass.getuser()} (command line)")
                print(f"dismissed [{group_id(group.key)[:SHOWN_ID]}] {group.sample}")
            return 0
    except (ValueError, StorageError, ConsoleStoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        storage.close()
    if csv_path:
        write_inbox_csv(groups, Path(csv_path))
        print(f"{len(groups)} groups of {sum(g.count for g in groups)} questions written to {csv_path}")
        return 0
    print_groups(groups, limit)
    return 0
