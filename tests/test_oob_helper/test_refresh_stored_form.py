"""What a refresh writes: the codec's shallow record dict is exactly ``InstallRecord.to_dict()``.

``refresh --all`` encodes one record per refresh, so the codec skips ``dataclasses.asdict``'s
deep copy; these records keep the stored text identical to the ``to_dict`` form.
"""

from __future__ import annotations

import json

import pytest

from oob_helper.stores._codec import Codec
from oob_helper.tokens import InstallRecord, Token

TOKEN = Token(
    access_token="a" * 32,
    refresh_token="r" * 32,
    expires_at=1_800_007_200.5,
    scopes=("account.read", "list.read"),
    obtained_at=1_800_000_000.0,
)
RECORDS = [
    InstallRecord(install="blank.example"),
    InstallRecord(
        install="full.example",
        token=TOKEN,
        state="connected",
        state_changed_at=1_800_000_000.0,
        account_id="123",
        account_name="Demo Co",
        last_refresh_at=1_800_000_100.0,
        version=7,
    ),
    InstallRecord(
        install="dead.example",
        token=Token(access_token="x", expires_at=None, refresh_token=None),
        state="reauthorization_required",
        reason="the provider refused the refresh token (invalid_grant)",
        state_changed_at=1.0,
        version=2,
    ),
]


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: r.install)
def test_stored_text_is_the_to_dict_form(record: InstallRecord) -> None:
    codec = Codec(None)
    text = codec.dump_record(record)
    assert text == json.dumps(record.to_dict(), separators=(",", ":"), sort_keys=True)
    assert codec.load_record(text) == record
