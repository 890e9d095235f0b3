"""Content negotiation: Accept-Encoding weighed by q-values, brotli first on a tie."""

from __future__ import annotations

import pytest

from app.http.negotiation import accept_encoding, negotiate

BOTH = ("br", "gzip")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        # What clients send.
        ("gzip, deflate, br, zstd", "br"),  # browsers
        ("gzip, deflate, br", "br"),  # curl --compressed, undici
        ("gzip, deflate", "gzip"),  # python-requests without brotli
        ("gzip", "gzip"),  # Go's net/http
        ("br", "br"),
        ("identity", "identity"),
        ("", "identity"),  # an empty header: no coding wanted
        ("deflate", "identity"),  # nothing the server offers
        ("zstd, compress", "identity"),
        # q-values decide first; on a tie brotli wins.
        ("br;q=1.0, gzip;q=0.8", "br"),
        ("br;q=0.5, gzip;q=1", "gzip"),
        ("gzip;q=0.5, br;q=0.5", "br"),
        ("gzip, br;q=0.999", "gzip"),
        ("gzip;q=0.001, br;q=0", "gzip"),
        # q=0 excludes.
        ("br;q=0, gzip", "gzip"),
        ("gzip;q=0", "identity"),
        ("br;q=0, gzip;q=0", "identity"),
        ("br;q=0.0, gzip;q=0.000", "identity"),
        # `*` stands for every coding not named.
        ("*", "br"),
        ("*;q=0", "identity"),
        ("br;q=0, *", "gzip"),
        ("*;q=0.3, gzip;q=0.5", "gzip"),
        ("*;q=0.5, gzip;q=0.3", "br"),
        ("deflate, *;q=0.1", "br"),
        # The identity wins only when weighed strictly higher than every offered coding.
        ("gzip;q=0.5, identity", "identity"),
        ("gzip, identity", "gzip"),
        ("br;q=0.8, identity;q=0.8", "br"),
        ("gzip, identity;q=0", "gzip"),
        ("identity;q=0", "identity"),  # nothing acceptable: sent as it is, never 406
        ("*;q=0.5, identity;q=1", "identity"),
        ("*;q=0, identity;q=0", "identity"),
        # Spelling: case, spaces, empty items, x-gzip, parameters other than q.
        ("GZIP", "gzip"),
        (" Br ; Q = 0.7 ,gzip;q=0.6", "br"),
        (",, ,gzip,", "gzip"),
        ("x-gzip", "gzip"),
        ("gzip;level=9", "gzip"),
        ("gzip;foo=bar;q=0", "identity"),
        # A weight the server cannot read excludes its coding.
        ("br;q=abc, gzip", "gzip"),
        ("br;q=1.5, gzip;q=0.2", "gzip"),
        ("br;q=-1, gzip", "gzip"),
        ("br;q=nan, gzip", "gzip"),
        ("br;q=inf, gzip", "gzip"),
        ("br;q, gzip", "gzip"),
        ("br;q=, gzip", "gzip"),
        # A coding listed twice keeps its lower weight.
        ("br, br;q=0, gzip", "gzip"),
        ("br;q=0.2, gzip;q=0.5, br", "gzip"),
    ],
)
def test_negotiation_weighs_codings_by_q_and_prefers_brotli_on_a_tie(
    header: str, expected: str
) -> None:
    assert negotiate(header, BOTH) == expected


@pytest.mark.parametrize(
    ("header", "offered", "expected"),
    [
        ("gzip, br", ("gzip", "br"), "gzip"),  # the server's order breaks the tie
        ("gzip;q=0.5, br", ("gzip", "br"), "br"),
        ("br", ("gzip",), "identity"),  # brotli not offered
        ("br, gzip;q=0.1", ("gzip",), "gzip"),
        ("*", ("gzip",), "gzip"),
        ("gzip", (), "identity"),
    ],
)
def test_only_the_codings_offered_are_chosen(
    header: str, offered: tuple[str, ...], expected: str
) -> None:
    assert negotiate(header, offered) == expected


def test_several_accept_encoding_lines_are_one_list() -> None:
    scope = {"headers": [(b"accept-encoding", b"gzip;q=0.5"), (b"host", b"x")]}
    assert accept_encoding(scope) == "gzip;q=0.5"
    scope["headers"].append((b"accept-encoding", b"br;q=0.9"))
    assert accept_encoding(scope) == "gzip;q=0.5,br;q=0.9"
    assert negotiate(accept_encoding(scope), BOTH) == "br"
    assert accept_encoding({"headers": []}) == ""
