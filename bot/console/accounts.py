"""Staff accounts from the command line: `python -m bot staff add NAME [--role editor|viewer]`."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable

from werkzeug.security import generate_password_hash

from bot.config import Config
from bot.console.store import ConsoleStore, open_console_store

ROLES = ("editor", "viewer")
MIN_PASSWORD = 10


class AccountError(ValueError):
    """An account cannot be created as asked; the message says why."""


def add_account(store: ConsoleStore, name: str, password: str, role: str = "editor") -> None:
    """Create or reset an account; the password is kept only as a salted scrypt hash."""
    if not name or not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise AccountError("a name is letters, digits, dots, hyphens or underscores")
    if role not in ROLES:
        raise AccountError(f"the role is one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password needs at least {MIN_PASSWORD} characters")
    store.save_account(name, generate_password_hash(password, method="scrypt"), role)
    store.clear_failures(name)
    store.audit("", "account saved", f"{name} ({role})")


def cmd_staff(args: argparse.Namespace) -> int:
    store = open_console_store(args.config_of(args).storage)
    if args.action == "list":
        for name, account in sorted(store.accounts().items()):
            print(f"{name}\t{account['role']}")
        return 0
    if not args.name:
        print("give the account's name: python -m bot staff add NAME", file=sys.stderr)
        return 2
    password = getpass.getpass(f"password for {args.name}: ")
    if getpass.getpass("again: ") != password:
        print("the two passwords differ; nothing saved", file=sys.stderr)
        return 1
    try:
        add_account(store, args.name, password, args.role)
    except AccountError as exc:
        print(f"not saved: {exc}", file=sys.stderr)
        return 1
    print(f"{args.name} can sign in at /admin as {args.role}")
    return 0


def add_staff_commands(
    sub: argparse._SubParsersAction, config_of: Callable[[argparse.Namespace], Config]
) -> None:
    """`staff add NAME` and `staff list`."""
    staff = sub.add_parser("staff", help="staff accounts of the console at /admin")
    staff.add_argument("action", choices=["add", "list"])
    staff.add_argument("name", nargs="?", default="")
    staff.add_argument("--role", choices=ROLES, default="editor")
    staff.set_defaults(func=cmd_staff, config_of=config_of)
