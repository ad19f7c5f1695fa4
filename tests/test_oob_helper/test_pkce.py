"""PKCE S256: the AWeber test vector, lengths and alphabet (RFC 7636, providers.md A9)."""

from __future__ import annotations

import pytest

from oob_helper.pkce import generate_verifier, is_valid_verifier, s256_challenge


def test_aweber_published_vector() -> None:
    verifier = "HLBvz1g_bbLZ31kjvlXJ5Rl0W1GgxU8rjYJdQIIEH_Y"
    assert s256_challenge(verifier) == "-oiamT7-EafhQ27P3V9cGEtu3crg731kec-GWhgrTV8"


def test_rfc7636_appendix_b_vector() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert s256_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


@pytest.mark.parametrize(("nbytes", "length"), [(32, 43), (64, 86), (96, 128)])
def test_generated_verifier_lengths(nbytes: int, length: int) -> None:
    verifier = generate_verifier(nbytes)
    assert len(verifier) == length
    assert is_valid_verifier(verifier)
    assert "=" not in s256_challenge(verifier)


def test_generated_verifiers_differ() -> None:
    assert generate_verifier() != generate_verifier()


def test_deterministic_with_given_bytes() -> None:
    assert generate_verifier(random_bytes=b"\0" * 32) == "A" * 43


@pytest.mark.parametrize("nbytes", [16, 31, 97])
def test_out_of_range_sizes_refused(nbytes: int) -> None:
    with pytest.raises(ValueError, match="43-128"):
        generate_verifier(nbytes)


@pytest.mark.parametrize("verifier", ["a" * 42, "a" * 129, "a" * 42 + " ", "a" * 42 + "+", ""])
def test_invalid_verifiers(verifier: str) -> None:
    assert not is_valid_verifier(verifier)
    with pytest.raises(ValueError, match="43-128"):
        s256_challenge(verifier)


@pytest.mark.parametrize("verifier", ["a" * 43, "a" * 128, "-._~" * 11])
def test_valid_verifiers(verifier: str) -> None:
    assert is_valid_verifier(verifier)
