"""The staff console at /admin: sign-in, entries, try-it, gated publish, history, inbox and dashboard."""

from bot.console.routes import register_console

__all__ = ["register_console"]
