"""Staff reports over the question log: declined questions grouped, and usage statistics."""

from __future__ import annotations

import argparse


def add_report_commands(sub: argparse._SubParsersAction) -> None:
    """Register the report commands (unanswered, stats) on the CLI."""
