"""OpenTelemetry metrics from the lifecycle events (issue 13, item 8), against the live mock.

The real OpenTelemetry SDK collects into an in-memory reader: counters of refreshes by outcome
and bounded error code, the latency histogram, the installs gauge; no install name as a label
unless asked; no secret anywhere in what is exported; a no-op without the package.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from workers.common import aweber_helper, connect

from mock_server.runner import MockServer
from oob_helper.config import load_settings
from oob_helper.errors import ConfigurationError
from oob_helper.helper import OAuthHelper
from oob_helper.metrics import error_label, instrument

INSTALL = "metrics.example"


@pytest.fixture
def helper(mock_aweber: MockServer, tmp_path: Path) -> Iterator[OAuthHelper]:
    with aweber_helper(mock_aweber, tmp_path / "tokens.db") as h:
        yield h


@pytest.fixture
def meters() -> Iterator[tuple[MeterProvider, InMemoryMetricReader]]:
    """A real SDK meter provider collecting into memory (never the global one)."""
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    yield provider, reader
    provider.shutdown()


def points(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    """Data points by metric name."""
    found: dict[str, list[Any]] = {}
    data = reader.get_metrics_data()
    assert data is not None
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                found.setdefault(metric.name, []).extend(metric.data.data_points)
    return found


def counts(reader: InMemoryMetricReader) -> dict[tuple[str, str], int]:
    return {
        (p.attributes["outcome"], p.attributes["error"]): p.value
        for p in points(reader).get("oob_helper.refreshes", [])
    }


def test_refresh_outcomes_latency_and_installs(
    mock_aweber: MockServer,
    helper: OAuthHelper,
    meters: tuple[MeterProvider, InMemoryMetricReader],
    secret_sweep: Any,
) -> None:
    provider, reader = meters
    stop = instrument(helper, meter_provider=provider, gauge_interval=0)
    secret_sweep.watch_mock(mock_aweber)
    connect(mock_aweber, helper, INSTALL)
    assert helper.refresh(INSTALL, force=True).result == "refreshed"
    assert helper.refresh(INSTALL, force=True).result == "refreshed"
    mock_aweber.add_fault("/oauth2/token", status=503, count=3, body={"error": "temporarily_unavailable"})
    assert helper.refresh(INSTALL, force=True).result == "failed"
    # A code outside the known set is counted as "other": a provider cannot grow the label set.
    mock_aweber.add_fault("/oauth2/token", status=400, count=1, body={"error": "made_up_code_7f3a"})
    assert helper.refresh(INSTALL, force=True).result == "failed"
    mock_aweber.revoke_tokens(client_id="demo-confidential")
    assert helper.refresh(INSTALL, force=True).result == "reauthorization_required"

    assert counts(reader) == {
        ("refreshed", "none"): 2,
        ("failed", "temporarily_unavailable"): 1,
        ("failed", "other"): 1,
        ("reauthorization_required", "invalid_grant"): 1,
    }
    found = points(reader)
    latency = {p.attributes["outcome"]: p for p in found["oob_helper.refresh.duration"]}
    assert latency["refreshed"].count == 2
    assert latency["failed"].count == 2
    assert 0 < latency["refreshed"].sum < 30
    installs = {p.attributes["state"]: p.value for p in found["oob_helper.installs"]}
    assert installs == {"connected": 0, "reauthorization_required": 1}
    labels = {key for points_ in found.values() for p in points_ for key in p.attributes}
    assert labels <= {"provider", "outcome", "error", "state"}  # never the install by default
    assert {p.attributes["provider"] for p in found["oob_helper.refreshes"]} == {"aweber"}
    data = reader.get_metrics_data()
    assert data is not None
    secret_sweep.scan("exported metrics", data.to_json())

    stop()
    mock_aweber.add_fault("/oauth2/token", status=503, count=3, body={"error": "temporarily_unavailable"})
    helper.refresh(INSTALL, force=True)
    assert counts(reader)[("reauthorization_required", "invalid_grant")] == 1  # nothing new after stop


def test_the_install_label_only_when_asked(
    mock_aweber: MockServer, helper: OAuthHelper, meters: tuple[MeterProvider, InMemoryMetricReader]
) -> None:
    provider, reader = meters
    instrument(helper, meter_provider=provider, install_label=True)
    connect(mock_aweber, helper, INSTALL)
    helper.refresh(INSTALL, force=True)
    found = points(reader)
    assert [p.attributes.get("install") for p in found["oob_helper.refreshes"]] == [INSTALL]


def test_the_gauge_reads_the_store_at_most_once_per_interval(
    mock_aweber: MockServer, helper: OAuthHelper, meters: tuple[MeterProvider, InMemoryMetricReader]
) -> None:
    provider, reader = meters
    instrument(helper, meter_provider=provider, gauge_interval=3600)
    assert {p.attributes["state"]: p.value for p in points(reader)["oob_helper.installs"]} == {
        "connected": 0,
        "reauthorization_required": 0,
    }
    connect(mock_aweber, helper, INSTALL)
    # Within the interval the last count is reported again (no scan of every record).
    assert {p.attributes["state"]: p.value for p in points(reader)["oob_helper.installs"]}["connected"] == 0


def test_error_labels_are_bounded() -> None:
    assert error_label(None) == "none"
    assert error_label("invalid_grant") == "invalid_grant"
    assert error_label("network") == "network"
    assert error_label("x" * 500) == "other"


def test_without_opentelemetry_instrument_is_a_no_op(tmp_path: Path) -> None:
    code = f"""
import sys
sys.modules["opentelemetry"] = None  # as if the extra were not installed
from oob_helper.config import Settings
from oob_helper.providers import AWEBER
from oob_helper.helper import OAuthHelper
from oob_helper.metrics import instrument
from oob_helper.stores import open_store
helper = OAuthHelper(Settings(provider=AWEBER, client_id="c"), open_store("sqlite:///{tmp_path / "t.db"}"))
stop = instrument(helper)
stop()
print("no-op", bool(helper.records.events))
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert (result.returncode, result.stdout.strip()) == (0, "no-op False"), result.stderr[-2000:]


def test_the_metrics_setting_instruments_every_helper_it_builds(tmp_path: Path) -> None:
    """``OOB_HELPER_METRICS=otel``: the CLI, ``serve`` and ``from_env`` record through the global
    meter provider; a bad value, or otel without the package, is a clear configuration error."""
    code = f"""
import sys
from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
reader = InMemoryMetricReader()
metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
from oob_helper.helper import OAuthHelper
helper = OAuthHelper.from_env({{"OOB_HELPER_CLIENT_ID": "c", "OOB_HELPER_METRICS": "otel",
                               "OOB_HELPER_STORE": "sqlite:///{tmp_path / "t.db"}"}})
data = reader.get_metrics_data()
names = [m.name for r in data.resource_metrics for s in r.scope_metrics for m in s.metrics]
print(sorted(names))
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "['oob_helper.installs']"  # the gauge; counters appear on use
    env = {"OOB_HELPER_CLIENT_ID": "c", "OOB_HELPER_METRICS": "prometheus"}
    with pytest.raises(ConfigurationError, match="OOB_HELPER_METRICS must be otel or off"):
        load_settings(overrides={}, environ=env, config_file=None)
    missing = f"""
import sys
sys.modules["opentelemetry"] = None
from oob_helper.helper import OAuthHelper
OAuthHelper.from_env({{"OOB_HELPER_CLIENT_ID": "c", "OOB_HELPER_METRICS": "otel",
                      "OOB_HELPER_STORE": "sqlite:///{tmp_path / "t.db"}"}})
"""
    result = subprocess.run(
        [sys.executable, "-c", missing], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode != 0
    assert "pip install 'oob-helper[otel]'" in result.stderr
