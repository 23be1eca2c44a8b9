"""Weaviate's tokenizations and stopwords.

* ``word``: split on every character that is neither a Unicode letter nor a number, lowercase.
* ``lowercase``: split on whitespace, lowercase.  ``whitespace``: split on whitespace.
* ``field``: the whole value, trimmed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# Letters and numbers: \w minus the underscore (\w is str.isalnum() plus "_").
_WORD = re.compile(r"[^\W_]+")

EN_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "for",
        "if",
        "in",
        "into",
        "is",
        "it",
        "no",
        "not",
        "of",
        "on",
        "or",
        "such",
        "that",
        "the",
        "their",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "was",
        "will",
        "with",
    ]
)


def tokenize(text: str, tokenization: str = "word") -> list[str]:
    if tokenization == "word":
        return [t.lower() for t in _WORD.findall(text)]
    if tokenization == "lowercase":
        return [t.lower() for t in text.split()]
    if tokenization == "whitespace":
        return text.split()
    if tokenization == "field":
        t = text.strip()
        return [t] if t else []
    raise ValueError(f"tokenization: {tokenization!r} is not supported")


def tokenize_value(value: object, tokenization: str) -> list[str]:
    """Tokens of a text or text[] value (None: no tokens)."""
    if value is None:
        return []
    if isinstance(value, str):
        return tokenize(value, tokenization)
    if isinstance(value, list):
        out: list[str] = []
        for v in value:
            if isinstance(v, str):
                out.extend(tokenize(v, tokenization))
        return out
    return []


def stopwords(
    preset: str, additions: Iterable[str] | None = None, removals: Iterable[str] | None = None
) -> frozenset[str]:
    words = set(EN_STOPWORDS if preset == "en" else ())
    words.update(w.lower() for w in additions or ())
    words.difference_update(w.lower() for w in removals or ())
    return frozenset(words)
