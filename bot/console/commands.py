"""The console's inbox on the command line: `python -m bot unanswered --inbox`."""

from __future__ import annotations

import sys
import time

from bot.config import Config
from bot.console.service import Console
from bot.console.store import ConsoleStoreError, open_console_store
from bot.engine import FAQBot
from bot.storage import StorageError, open_storage


def print_inbox(config: Config, since: float | None, limit: int) -> int:
    """Declined, "did you mean" and low-confidence questions grouped as in the console, newest first;
    groups marked in the console or now answered confidently are left out."""
    storage = open_storage(config.storage)
    try:
        bot = FAQBot(config, storage)
        groups = Console(bot, open_console_store(config.storage)).inbox(since=since)
    except (ValueError, StorageError, ConsoleStoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        storage.close()
    print(f"{len(groups)} groups still to look at, newest first")
    for group in groups[:limit]:
        outcomes = ", ".join(f"{k} {n}" for k, n in group.outcomes.items())
        offered = ", ".join(i for i, _ in group.offered.most_common(3)) or "no near entry"
        last = time.strftime("%Y-%m-%d", time.gmtime(group.last_asked))
        print(f"{group.count:5d}  {group.sample}   [{outcomes}; likely {offered}; last {last}]")
        for text, _ in group.texts.most_common(4)[1:]:
            print(f"       also: {text}")
    return 0
