"""An offline mock of AWeber's OAuth 2 authorization server and a slice of its REST API."""

from __future__ import annotations

from mock_server.app import create_app
from mock_server.clock import Clock
from mock_server.config import ClientSpec, MockConfig, UserSpec
from mock_server.runner import ControlClient, MockServer, MockServerError
from mock_server.state import MockState

__all__ = [
    "ClientSpec",
    "Clock",
    "ControlClient",
    "MockConfig",
    "MockServer",
    "MockServerError",
    "MockState",
    "UserSpec",
    "create_app",
]
