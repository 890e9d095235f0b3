"""The pre-parse token count never counts more than graphql-core's lexer does, so it refuses
nothing the parser would accept, and it refuses what is over the limit."""

from __future__ import annotations

from pathlib import Path

from graphql import GraphQLSyntaxError, Source, TokenKind, get_introspection_query
from graphql.language.lexer import Lexer
from hypothesis import given, settings
from hypothesis import strategies as st

from schema.prescan import count_tokens, over_token_limit

PIECES = [
    "{", "}", "(", ")", "[", "]", ":", "$", "!", "=", "@", "|", "&", "...", ",", " ", "\n",
    "query", "a", "_b1", "-1", "1.5e3", "0", '"s"', '"a\\"b"', '"""x"""', '"""a\\"""b"""',
    '"""q "" r"""', "# c\n", "#", '"', "\\", ".", "\t", "\u00e9",
]  # fmt: skip


def lexer_count(text: str) -> int | None:
    """Tokens the parser counts (comments apart), or None when the text does not lex."""
    lexer = Lexer(Source(text))
    count = 0
    try:
        while lexer.advance().kind is not TokenKind.EOF:
            count += 1
    except GraphQLSyntaxError:
        return None
    return count


def prescan_count(text: str) -> int:
    return count_tokens(text)[0]


@settings(max_examples=400, deadline=None, database=None)
@given(st.lists(st.sampled_from(PIECES), max_size=40).map("".join))
def test_the_prescan_never_counts_more_than_the_lexer(text: str) -> None:
    expected = lexer_count(text)
    if expected is not None:
        assert prescan_count(text) <= expected


def test_the_prescan_counts_real_documents_exactly() -> None:
    folder = Path(__file__).resolve().parents[2] / "operations"
    documents = [p.read_text() for p in folder.glob("*.graphql")] + [get_introspection_query()]
    for text in documents:
        assert prescan_count(text) == lexer_count(text)


def test_a_document_over_the_limit_is_found_without_the_parser() -> None:
    assert over_token_limit("{ " + "a " * 3000 + "}", 2000) == 3002
    assert over_token_limit("{ " + "a " * 1990 + "}", 2000) is None
    assert over_token_limit("#\n" * 2001 + "{ a }", 2000) == 2001
    assert count_tokens('{ a(b: "# not a comment") } # one') == (8, 1)
