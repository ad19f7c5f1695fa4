"""The isolation walk as a pytest suite for the plugin's sandbox mode (not collected by default).

test_sandboxes_served runs it with ``-n 4 --mock-aweber-url URL --mock-aweber-sandbox`` against
one server started once: every test gets its own sandbox from the ``mock_aweber`` fixture.
"""

from __future__ import annotations

import pytest
from sandbox_isolation import exercise

from mock_server.runner import ControlClient


@pytest.mark.parametrize("seed", range(16))
def test_a_tenant_sees_only_its_own_world(mock_aweber: ControlClient, seed: int) -> None:
    assert mock_aweber.sandbox_id != "default"
    tenant = exercise(mock_aweber, seed, 25)
    assert tenant.rounds == 25
