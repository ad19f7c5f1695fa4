"""The command line's parsing, exit codes and output helpers, in process (no server needed)."""

from __future__ import annotations

import io
import os
import re
import signal
import sys
from pathlib import Path

import pytest

from oob_helper import cli, cli_commands, cli_refresh, cli_signals
from oob_helper.cli import build_parser, main, parse_duration
from oob_helper.errors import (
    AttemptExpired,
    AuthorizationDenied,
    ConfigurationError,
    InvalidClient,
    InvalidGrant,
    InvalidPaste,
    MalformedResponse,
    NetworkError,
    NotConnected,
    ReauthorizationRequired,
    ServerError,
    StoreError,
)
from oob_helper.progress import Progress
from oob_helper.tokens import InstallRecord, Token


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No OOB_HELPER_* from the outer environment, and no user config file."""
    for name in list(os.environ):
        if name.startswith("OOB_HELPER_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("10m", 600), ("2h", 7200), ("1d", 86400), ("1h30m", 5400), ("45", 45), (" 1.5h ", 5400)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "10x", "m", "-5m", "1h-2m"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(text)}$"):
        parse_duration(text)


def test_settings_flags_work_before_and_after_the_command() -> None:
    parser = build_parser()
    before = parser.parse_args(["--client-id", "a", "--store", "memory://", "status"])
    after = parser.parse_args(["status", "--client-id", "b"])
    assert before.client_id == "a"
    assert before.store == "memory://"
    assert after.client_id == "b"
    assert not hasattr(after, "store")  # not given: the environment or file decides


def test_client_secret_is_not_a_flag(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "--install", "x", "--client-secret", "s"]) == 2
    err = capsys.readouterr().err
    assert "unrecognized arguments" in err


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        ([], "required"),
        (["frobnicate"], "invalid choice"),
        (["token"], "--install"),
        (["refresh"], "one of the arguments --install --all is required"),
        (["refresh", "--all", "--install", "x"], "not allowed with"),
        (["refresh", "--all", "--within", "soon"], "not a duration"),
        (["refresh", "--all", "--concurrency", "0"], "concurrency"),
        (["refresh", "--all", "--concurrency", "many"], "concurrency"),
        (["serve", "--port", "70000"], "port"),
    ],
)
def test_usage_errors_exit_2(argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err
    assert "Traceback" not in err


def test_help_documents_output_streams_and_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "OOB_HELPER_CLIENT_SECRET" in out
    assert "3 a person must connect (the install was\nnever connected, or needs reauthorization" in out
    assert "130 interrupted (Ctrl-C), 143 terminated" in out
    assert "config.toml, the\nuser's config directory" in out
    assert main(["connect", "--help"]) == 0
    out = capsys.readouterr().out
    assert "stderr" in out
    assert "--start" in out


@pytest.mark.usefixtures("clean_env")
def test_configuration_error_is_one_line_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["connect", "--install", "x"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("oob-helper: error: missing client id")
    assert "OOB_HELPER_CLIENT_ID" in err


@pytest.mark.usefixtures("clean_env")
def test_config_file_from_default_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config_dir = tmp_path / "config" / "oob-helper"
    config_dir.mkdir(parents=True)
    (config_dir / "config.toml").write_text(
        f'client_id = "from-default-file"\nstore = "sqlite:///{tmp_path}/s.db"\n', encoding="utf-8"
    )
    assert main(["status", "--json"]) == 0
    assert capsys.readouterr().out.strip() == "[]"


@pytest.mark.usefixtures("clean_env")
def test_missing_demo_or_web_helper_is_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "oob_helper.demo", None)
    assert main(["demo"]) == 2
    assert "the demo" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "oob_helper.web.runner", None)
    monkeypatch.setenv("OOB_HELPER_CLIENT_ID", "x")
    assert main(["serve"]) == 2
    assert "web helper" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (ConfigurationError("bad"), 2),
        (InvalidPaste("empty"), 2),
        (AttemptExpired("old"), 2),
        (NotConnected("x"), 3),
        (ReauthorizationRequired("x", "revoked"), 3),
        (AuthorizationDenied("no"), 3),
        (InvalidGrant("refused", status_code=400), 4),
        (ServerError("down", status_code=503), 4),
        (NetworkError("refused"), 4),
        (StoreError("locked"), 4),
    ],
)
def test_exit_codes(error: Exception, code: int, capsys: pytest.CaptureFixture[str]) -> None:
    assert isinstance(error, cli.OobHelperError)
    assert cli.report_error(error) == code
    err = capsys.readouterr().err
    assert err.startswith("oob-helper: error: ")
    assert err.count("\n") == 1


def test_provider_errors_get_a_hint(capsys: pytest.CaptureFixture[str]) -> None:
    cli.report_error(InvalidClient("the provider refused the client", status_code=401))
    assert "OOB_HELPER_CLIENT_SECRET" in capsys.readouterr().err
    cli.report_error(MalformedResponse("HTTP 404 with a body that is not JSON", status_code=404))
    assert "OOB_HELPER_AUTH_BASE" in capsys.readouterr().err
    cli.report_error(ServerError("the provider failed", status_code=502))
    assert "retry later" in capsys.readouterr().err


def test_reauthorization_message_says_what_to_run(capsys: pytest.CaptureFixture[str]) -> None:
    cli.report_error(ReauthorizationRequired("shop.example", "the refresh token was revoked"))
    err = capsys.readouterr().err
    assert "oob-helper connect --install shop.example" in err


def test_read_paste_skips_blank_lines_and_refuses_nothing() -> None:
    assert cli_commands.read_paste(io.StringIO("\n  \n abc \n"), prompt=None) == " abc \n"
    with pytest.raises(ConfigurationError, match="no authorization code"):
        cli_commands.read_paste(io.StringIO("\n\n"), prompt=None)


def test_summary_line_names_every_result() -> None:
    line = cli_refresh.summary_line({"refreshed": 3, "failed": 1}, 4, 0.25)
    assert (
        line
        == "refreshed 3, skipped 0, reauthorization required 0, failed 1, backed off 0 (4 installs in 0.2s)"
    )


def test_record_json_has_no_secret() -> None:
    token = Token(
        access_token="AT-secret", refresh_token="RT-secret", expires_at=1_800_000_000.0, scopes=("a",)
    )
    record = InstallRecord(
        install="x", token=token, state="connected", account_id="7", account_name="Demo", version=2
    )
    data = cli_commands.record_json(record, 1_800_000_000.0 - 60)
    assert data["expires_at"] == "2027-01-15T08:00:00Z"
    assert data["expires_in"] == 60
    assert data["scopes"] == ["a"]
    assert "secret" not in str(data)


def test_human_delta() -> None:
    assert cli_commands.human_delta(7190) == "1h59m"
    assert cli_commands.human_delta(-250) == "4m10s"
    assert cli_commands.human_delta(12) == "12s"
    assert cli_commands.human_delta(3 * 86400 + 7200) == "3d2h"


def test_progress_draws_only_when_enabled() -> None:
    quiet = io.StringIO()
    bar = Progress(2, quiet, enabled=False)
    bar.advance("refreshed")
    bar.message("install 'x': failed")
    bar.advance("failed")
    bar.close()
    assert quiet.getvalue() == "install 'x': failed\n"

    loud = io.StringIO()
    bar = Progress(2, loud, enabled=True)
    bar.advance("refreshed")
    bar.advance("failed")
    bar.close()
    assert bar.render() == f"[{'#' * 30}] 2/2 failed 1 refreshed 1"
    assert loud.getvalue().endswith(bar.render() + "\n")
    assert "\r" in loud.getvalue()


def test_signals_wait_for_the_end_of_a_critical_section() -> None:
    done: list[str] = []

    def held() -> None:
        with cli_signals.installed():
            with cli_signals.critical():
                os.kill(os.getpid(), signal.SIGTERM)
                done.append("write finished")  # still runs: the signal is held
            done.append("never")

    def at_once() -> None:
        with cli_signals.installed():
            os.kill(os.getpid(), signal.SIGINT)  # outside a critical section
            done.append("never")

    with pytest.raises(cli_signals.Terminated):
        held()
    with pytest.raises(KeyboardInterrupt):
        at_once()
    assert done == ["write finished"]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # put back
