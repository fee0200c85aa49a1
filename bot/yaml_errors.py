"""YAML syntax errors in plain words: where the mistake is (line and column) and what to do about it.

Staff edit the corpus by hand; the parser's own messages ("mapping values are not allowed here") name a
grammar rule, not the mistake. The common mistakes are few: a tab, a line indented wrongly, a colon inside
an unquoted text, a quote or bracket never closed, a text that starts with a character YAML reserves.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol

_RESERVED_START = re.compile(r"found character '(\\t|.)' that cannot start any token")
_UNDEFINED_ALIAS = re.compile(r"found undefined alias")


@dataclass(frozen=True)
class YamlAdvice:
    """Where a YAML file goes wrong (1-based line and column; 0 when unknown) and what to do."""

    line: int
    column: int
    message: str


class MarkedError(Protocol):
    """A YAML error with its marks: PyYAML's MarkedYAMLError, and ruamel.yaml's, which has the same shape."""

    problem: str | None
    context: str | None
    problem_mark: Any
    context_mark: Any


def _where(mark: Any) -> tuple[int, int]:
    return (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)


def _line_text(text: str, line: int) -> str:
    lines = text.splitlines()
    return lines[line - 1] if 0 < line <= len(lines) else ""


def _indentation_advice(text: str, line: int) -> tuple[int, int, str]:
    """Placed at the line's first character, where the indentation ends."""
    content = _line_text(text, line)
    column = len(content) - len(content.lstrip()) + 1
    return (
        line,
        column,
        (
            f"line {line} is not indented like the lines around it. Lines at the same level must start in the "
            "same column, indented with spaces: each entry starts with `- ` at the left edge and its keys "
            "(question, answer, ...) are indented by two spaces; put this line in line with its neighbours"
        ),
    )


def _colon_advice(line: int, column: int) -> tuple[int, int, str]:
    return (
        line,
        column,
        (
            f"the text on line {line} has a colon followed by a space at column {column}, which YAML reads as "
            'a new key. Put the whole text in double quotes, such as en: "Fees: 50,000 yuan a year"'
        ),
    )


def _explain_plain(
    problem: str, context: str, text: str, problem_at: tuple[int, int]
) -> tuple[int, int, str] | None:
    """Advice for the mistakes found at the problem's own mark, or None when it is not one of them."""
    line, column = problem_at
    reserved = _RESERVED_START.search(problem)
    if reserved and reserved.group(1) == "\\t":  # PyYAML writes a tab as '\t'
        return (
            line,
            column,
            (
                f"there is a tab at line {line}, column {column}; YAML indents with spaces only. "
                "Replace the tab with spaces (two for each level)"
            ),
        )
    if reserved or _UNDEFINED_ALIAS.search(problem):
        return (
            line,
            column,
            (
                f"the text at line {line}, column {column} starts with a character YAML reserves "
                "(such as @ ` * & ! %). Put the whole text in double quotes"
            ),
        )
    if problem == "mapping values are not allowed here":
        before = _line_text(text, line)[: column - 1]
        if ": " in before.strip() or before.strip().endswith(":"):
            return _colon_advice(line, column)
        return _indentation_advice(text, line)
    if "but got ':'" in problem and "flow" in context:
        return _colon_advice(line, column)
    if problem.startswith("expected <block end>"):
        return _indentation_advice(text, line)
    return None


def explain_yaml_error(exc: MarkedError, text: str) -> YamlAdvice:
    """Plain-words advice for a YAML syntax error in `text`, placed where the staff member should look."""
    problem = exc.problem or ""
    context = exc.context or ""
    problem_at = _where(exc.problem_mark)
    context_at = _where(exc.context_mark)
    plain = _explain_plain(problem, context, text, problem_at)
    if plain is not None:
        line, column, advice = plain
    elif "quoted scalar" in context:
        line, column = context_at
        quote = _line_text(text, line)[column - 1 : column] or '"'
        advice = (
            f"the quote {quote} opened at line {line}, column {column} is never closed. Add the closing "
            f"{quote} at the end of the text (inside the text, write a {quote} as "
            + ("''" if quote == "'" else '\\"')
            + ")"
        )
    elif "flow sequence" in context or "flow mapping" in context:
        line, column = context_at
        closing = "]" if "sequence" in context else "}"
        advice = (
            f"the bracket opened at line {line}, column {column} is not closed properly. Check that it ends "
            f"with {closing}, that its items are separated by commas, and put any text with a comma or colon "
            "in double quotes"
        )
    elif "simple key" in context:
        line, column = context_at
        advice = (
            f"line {line} has text where a key (such as `answer:`) is expected. If it continues the text "
            "above, indent it further than that key or put the whole text in quotes; if it is a key, end "
            "it with a colon"
        )
    else:
        line, column = problem_at if exc.problem_mark is not None else context_at
        advice = (
            f"check the quotes, colons and indentation of line {line} and of the line above it "
            f"(the parser said: {problem or context or exc})"
        )
    return YamlAdvice(line, column, f"not valid YAML: {advice}")
