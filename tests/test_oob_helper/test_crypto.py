"""TokenCipher: Fernet with rotation; errors that name the setting and never show a key."""

from __future__ import annotations

import pytest

from oob_helper.crypto import ENV_KEYS, TokenCipher, cipher_from_keys, generate_key, keys_from_env
from oob_helper.errors import ConfigurationError, StoreError
from oob_helper.stores._codec import Codec
from oob_helper.tokens import InstallRecord, Token


def test_round_trip_and_ciphertext_hides_the_plaintext() -> None:
    cipher = TokenCipher([generate_key()])
    sealed = cipher.encrypt("my-access-token")
    assert "my-access-token" not in sealed
    assert cipher.decrypt(sealed) == "my-access-token"
    assert cipher.encrypt("x") != cipher.encrypt("x")  # random IV


def test_rotation_first_key_encrypts_all_keys_decrypt() -> None:
    old, new = generate_key(), generate_key()
    by_old = TokenCipher([old]).encrypt("t")
    rotated = TokenCipher([new, old])
    assert rotated.decrypt(by_old) == "t"
    assert not rotated.is_current(by_old)
    by_new = rotated.encrypt("t")
    assert rotated.is_current(by_new)
    assert TokenCipher([new]).decrypt(by_new) == "t"
    with pytest.raises(StoreError):
        TokenCipher([old]).decrypt(by_new)


def test_wrong_key_is_a_clear_store_error() -> None:
    sealed = TokenCipher([generate_key()]).encrypt("t")
    with pytest.raises(StoreError, match=ENV_KEYS) as info:
        TokenCipher([generate_key()]).decrypt(sealed)
    assert "none of the configured encryption keys" in str(info.value)


@pytest.mark.parametrize("bad", ["short", "x" * 44, "ä" * 44])
def test_a_malformed_key_is_a_configuration_error_that_does_not_echo_it(bad: str) -> None:
    with pytest.raises(ConfigurationError, match=ENV_KEYS) as info:
        TokenCipher([generate_key(), bad])
    assert bad not in str(info.value)
    assert "key number 2" in str(info.value)


def test_repr_shows_no_key() -> None:
    key = generate_key()
    assert key not in repr(TokenCipher([key]))
    assert repr(TokenCipher([key, generate_key()])) == "TokenCipher(keys=2)"


def test_keys_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = generate_key(), generate_key()
    assert keys_from_env({ENV_KEYS: f" {a} , ,{b}"}) == [a, b]
    assert keys_from_env({}) == []
    monkeypatch.setenv(ENV_KEYS, a)
    env_cipher = cipher_from_keys(None)
    assert env_cipher is not None
    assert env_cipher.key_count == 1
    assert cipher_from_keys([]) is None  # explicit: no encryption, environment ignored
    monkeypatch.delenv(ENV_KEYS)
    assert cipher_from_keys(None) is None


def test_a_record_sealed_under_an_unknown_key_reads_as_a_store_error() -> None:
    record = InstallRecord(
        install="a.example", token=Token(access_token="ACCESS-1", refresh_token="REFRESH-1")
    )
    text = Codec(TokenCipher([generate_key()])).dump_record(record)
    assert "ACCESS-1" not in text
    assert "REFRESH-1" not in text
    with pytest.raises(StoreError, match="none of the configured encryption keys"):
        Codec(TokenCipher([generate_key()])).load_record(text)
    with pytest.raises(StoreError, match="no encryption key is configured"):
        Codec(None).load_record(text)


def test_plain_and_sealed_records_mix() -> None:
    record = InstallRecord(install="a.example", token=Token(access_token="ACCESS-1"))
    codec = Codec(TokenCipher([generate_key()]))
    assert codec.load_record(Codec(None).dump_record(record)) == record
    assert codec.load_record(codec.dump_record(record)) == record


def test_a_text_read_again_is_not_decoded_again_and_a_new_one_is() -> None:
    """The decode memo: the same stored text and version give the record already decoded (no
    JSON parse, no decryption); a rewrite, another version or a damaged text are decoded."""
    codec = Codec(TokenCipher([generate_key()]))
    first = InstallRecord(install="a.example", token=Token(access_token="ACCESS-1"), version=3)
    text = codec.dump_record(first)
    read = codec.load_record(text, 3)
    assert read == first
    assert codec.load_record(text, 3) is read  # served from the memo
    assert codec.load_record(text, 4).version == 4  # the column's version is part of the key
    second = codec.dump_record(InstallRecord(install="a.example", token=Token(access_token="ACCESS-2")))
    token = codec.load_record(second).token
    assert token is not None
    assert token.access_token == "ACCESS-2"
    with pytest.raises(StoreError):
        codec.load_record(text[:-5])  # a damaged text is never served from the memo
    for n in range(Codec.MEMO_SIZE + 10):  # bounded: it never holds more than MEMO_SIZE
        codec.load_record(text, n)
    assert len(codec._memo) <= Codec.MEMO_SIZE
