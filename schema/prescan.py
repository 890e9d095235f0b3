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

TOKEN = re.compile(
    r'(?P<block>"""(?:\\"""|[^"]|"(?!""))*""")'
    r'|(?P<string>"(?:[^"\\\n\r]|\\.)*")'
    r"|(?P<comment>#[^\n\r]*)"
    r"|(?P<name>[_A-Za-z][_0-9A-Za-z]*)"
    r"|(?P<number>-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)"
    r"|(?P<punctuator>\.\.\.|[!$&():=@\[\]{|}])"
)


def over_token_limit(query: str, limit: int) -> int | None:
    """The token (or comment) count of `query` if it is over `limit`, else None."""
    if len(query) <= limit:
        return None  # every token takes at least one character
    tokens = comments = 0
    for match in TOKEN.finditer(query):
        if match.lastgroup == "comment":
            comments += 1
        else:
            tokens += 1
        if tokens > limit or comments > limit:
            return max(tokens, comments)
    return None
