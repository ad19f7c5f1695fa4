"""Reading the user's paste: codes, messy codes, redirect URLs, and clear refusals."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oob_helper.errors import AuthorizationDenied, InvalidPaste, StateMismatch
from oob_helper.protocol_paste import MAX_PASTE_BYTES, Pasted, check_state, parse_paste, parse_paste_for

CODE_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
codes = st.text(CODE_ALPHABET, min_size=1, max_size=200)


@pytest.mark.parametrize(
    "text",
    [
        "VhXKzYi5paFfs1aYqgikSw",
        "  VhXKzYi5paFfs1aYqgikSw  ",
        "\tVhXKzYi5paFfs1aYqgikSw\r\n",
        '"VhXKzYi5paFfs1aYqgikSw"',
        "'VhXKzYi5paFfs1aYqgikSw'",
        "\u201cVhXKzYi5paFfs1aYqgikSw\u201d",
        "VhXKzYi5pa\nFfs1aYqgikSw",
        "VhXKzYi5pa\r\n  Ffs1aYqgikSw\n",
    ],
)
def test_bare_codes(text: str) -> None:
    pasted = parse_paste(text)
    assert pasted == Pasted(code="VhXKzYi5paFfs1aYqgikSw")
    assert not pasted.from_url


def test_redirect_url_as_in_aweber_traces() -> None:
    url = (
        "https://127.0.0.1/oauth2-callback?state=62cdb1ee8a5c40f6ba0d5de1dfa83113&code=VhXKzYi5paFfs1aYqgikSw"
    )
    pasted = parse_paste(url)
    assert pasted.code == "VhXKzYi5paFfs1aYqgikSw"
    assert pasted.state == "62cdb1ee8a5c40f6ba0d5de1dfa83113"
    assert pasted.from_url
    assert parse_paste_for(url, "62cdb1ee8a5c40f6ba0d5de1dfa83113") == "VhXKzYi5paFfs1aYqgikSw"


def test_redirect_url_wrapped_and_quoted() -> None:
    pasted = parse_paste(' "http://127.0.0.1:8000/callback?code=abc\n&state=xyz" ')
    assert (pasted.code, pasted.state) == ("abc", "xyz")


def test_query_only_and_fragment() -> None:
    assert parse_paste("?code=abc&state=s").code == "abc"
    assert parse_paste("code=abc&state=s").state == "s"
    assert parse_paste("https://app/cb#code=frag&state=s").code == "frag"


def test_state_mismatch() -> None:
    with pytest.raises(StateMismatch, match="different connection attempt"):
        parse_paste_for("https://app/cb?code=abc&state=other", "mine")


def test_url_without_state_is_refused() -> None:
    with pytest.raises(StateMismatch, match="no state"):
        check_state(parse_paste("https://app/cb?code=abc"), "mine")


def test_bare_code_needs_no_state() -> None:
    assert parse_paste_for("abc", "mine") == "abc"


def test_access_denied() -> None:
    with pytest.raises(AuthorizationDenied, match="denied"):
        parse_paste("https://app/cb?error=access_denied&state=s")


def test_other_provider_error() -> None:
    with pytest.raises(InvalidPaste, match=r"refused the authorization \(invalid_scope\)"):
        parse_paste("https://app/cb?error=invalid_scope&state=s")


def test_odd_error_value_not_echoed() -> None:
    with pytest.raises(InvalidPaste, match="unknown error") as info:
        parse_paste("https://app/cb?error=%3Cscript%3E")
    assert "<script>" not in str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "nothing was pasted"),
        ("   \n\t", "nothing was pasted"),
        ('""', "nothing was pasted"),
        ("x" * (MAX_PASTE_BYTES + 1), "longer than 2048 bytes"),
        ("é" * 1025, "longer than 2048 bytes"),
        ("not<a>code!", "not an authorization code"),
        ("https://app/cb?state=s", "no code"),
        ("https://app/cb?code=&state=s", "no code"),
        ("https://app/cb?code=a&code=b&state=s", "more than once"),
        ("https://app/cb?code=%3Cx%3E&state=s", "unexpected characters"),
        ("http://[::1/cb?code=a", "could not be read"),
    ],
)
def test_refusals_say_what_to_do(text: str, message: str) -> None:
    with pytest.raises(InvalidPaste, match=message) as info:
        parse_paste(text)
    assert "paste" in str(info.value) or "start again" in str(info.value)


def test_message_never_repeats_the_code() -> None:
    with pytest.raises(InvalidPaste) as info:
        parse_paste("secret$code")
    assert "secret" not in str(info.value)


def test_non_string() -> None:
    with pytest.raises(InvalidPaste):
        parse_paste(None)  # type: ignore[arg-type]


@given(st.text(max_size=3000))
def test_never_raises_anything_else(text: str) -> None:
    try:
        pasted = parse_paste(text)
    except (InvalidPaste, AuthorizationDenied):
        return
    assert pasted.code
    assert len(pasted.code) <= MAX_PASTE_BYTES


@given(st.text(max_size=300), st.text(max_size=40))
def test_never_raises_anything_else_with_state(text: str, state: str) -> None:
    try:
        code = parse_paste_for(text, state)
    except (InvalidPaste, StateMismatch, AuthorizationDenied):
        return
    assert code


@given(codes, st.sampled_from(["", " ", "\n", '"', "'", "\t "]), st.sampled_from(["", " ", "\r\n", '"']))
def test_bare_code_round_trips(code: str, before: str, after: str) -> None:
    assert parse_paste(before + code + after).code == code


@given(codes, st.text(CODE_ALPHABET, min_size=1, max_size=40))
def test_redirect_url_round_trips(code: str, state: str) -> None:
    url = "http://127.0.0.1:8000/callback?" + urlencode({"state": state, "code": code})
    assert parse_paste_for(url, state) == code


@given(st.text(min_size=1, max_size=200))
def test_url_with_any_code_round_trips_or_refuses(code: str) -> None:
    url = "https://app/cb?" + urlencode({"code": code, "state": "s"})
    try:
        got = parse_paste_for(url, "s")
    except InvalidPaste:
        return
    assert got == code.strip() or got == "".join(code.split())
