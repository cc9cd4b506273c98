"""Recognising what kind of statement a client sent, before DataFusion sees it."""

from __future__ import annotations

import enum
import re

_COMMENTS = re.compile(r"^(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*", re.DOTALL)
_WORD = re.compile(r"[A-Za-z_]+")

MAX_SQL_BYTES = 1 << 20
# DataFusion plans a chain of binary operators recursively; about 20,000 in one
# statement overflow a native stack and kill the process. Refuse well before.
MAX_OPERATORS = 4000
# String literals, quoted names and comments: text that is not SQL code.
NOT_CODE = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/", re.DOTALL)
_OPERATORS = re.compile(r"\|\||<=|>=|<>|!=|[-+*/%=<>]|\b(?:and|or)\b", re.IGNORECASE)


def operator_count(sql: str) -> int:
    """Binary operators in ``sql``, outside string literals, quoted names and comments."""
    return len(_OPERATORS.findall(NOT_CODE.sub(" ", sql)))


class StatementKind(enum.Enum):
    """How the scheduler handles a statement."""

    QUERY = "query"  # planned and run on the executors
    CATALOG = "catalog"  # changes the scheduler's catalog or settings
    LOCAL = "local"  # answered from the catalog by the scheduler itself
    EXPLAIN = "explain"  # the distributed plan


_CATALOG = {"create", "drop", "set", "reset", "use"}
_LOCAL = {"show", "describe", "desc"}


def strip_leading_comments(sql: str) -> str:
    """``sql`` without leading whitespace and comments."""
    return sql[_COMMENTS.match(sql).end() :]  # type: ignore[union-attr]


def classify(sql: str) -> tuple[StatementKind, str]:
    """The statement's kind and the text to plan (the query of an EXPLAIN)."""
    body = strip_leading_comments(sql)
    match = _WORD.match(body)
    word = match.group(0).lower() if match else ""
    if word == "explain":
        return StatementKind.EXPLAIN, body[match.end() :]  # type: ignore[union-attr]
    if word in _CATALOG:
        return StatementKind.CATALOG, sql
    if word in _LOCAL:
        return StatementKind.LOCAL, sql
    return StatementKind.QUERY, sql


def explain_options(rest: str) -> tuple[set[str], str]:
    """Split ``EXPLAIN [ANALYZE] [VERBOSE] [FORMAT x]`` options from the query."""
    options: set[str] = set()
    text = rest
    while True:
        text = strip_leading_comments(text)
        match = _WORD.match(text)
        word = match.group(0).lower() if match else ""
        if word in {"analyze", "verbose"}:
            options.add(word)
            text = text[match.end() :]  # type: ignore[union-attr]
        elif word == "format":
            text = strip_leading_comments(text[match.end() :])  # type: ignore[union-attr]
            fmt = _WORD.match(text)
            if fmt:
                options.add("format:" + fmt.group(0).lower())
                text = text[fmt.end() :]
        else:
            return options, text
