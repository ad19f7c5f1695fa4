"""The foundation's promises: the mock starts on port 0 and stops; packages import cleanly."""

from __future__ import annotations

import socket

import httpx

from mock_server import MockServer


def test_mock_server_starts_on_a_free_port_and_stops() -> None:
    with MockServer() as mock:
        assert mock.url.startswith("http://127.0.0.1:")
        port = int(mock.url.rsplit(":", 1)[1])
        assert port > 0
        response = httpx.get(f"{mock.url}/openapi.json")
        assert response.status_code == 200
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0  # nothing listens any more
