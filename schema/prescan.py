"""What a document's text tells before the parser reads it, at regular-expression speed.

graphql-core's parser is pure Python, about 15-30 us a token on this machine: a document just
under the token limit costs tens of milliseconds to parse, and one over it as much before the
parser gives up. Counting tokens with one compiled pattern first refuses the latter for a
fraction of that. The count never exceeds the parser's own (strings and block strings are one
token, commas and whitespace none, characters it does not know are skipped), so a document the
parser would accept is never refused here; the parser still enforces the exact limit.
"""

from __future__ import annotations

import re

# One group only, the comment's: findall then gives "" for a token and the text for a comment, and
# list.count("") counts tokens at C speed.
TOKEN = re.compile(
    r'(?:"""(?:\\"""|[^"]|"(?!""))*""")'
    r'|(?:"(?:[^"\\\n\r]|\\.)*")'
    r"|(#[^\n\r]*)"
    r"|(?:[_A-Za-z][_0-9A-Za-z]*)"
    r"|(?:-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)"
    r"|(?:\.\.\.|[!$&():=@\[\]{|}])"
)


def count_tokens(query: str) -> tuple[int, int]:
    """Lexical tokens and comments of `query`, as graphql-core counts them or fewer."""
    found = TOKEN.findall(query)
    tokens = found.count("")
    return tokens, len(found) - tokens


def over_token_limit(query: str, limit: int) -> int | None:
    """The token (or comment) count of `query` if it is over `limit`, else None."""
    if len(query) <= limit:
        return None  # every token takes at least one character
    tokens, comments = count_tokens(query)
    most = max(tokens, comments)
    return most if most > limit else None
