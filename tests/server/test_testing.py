"""Starting a real server for tests and benches (server/testing.py); a healthy start is
exercised by test_load.py and the browser tests."""

from __future__ import annotations

import socket

import pytest

from lookalike.server.testing import ServerStartError, free_port, start_server, stop_server
from tests.server.conftest import server_env


def test_free_port_can_be_bound():
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_a_server_that_cannot_start_raises_with_its_log(tmp_path):
    with pytest.raises(ServerStartError, match="exited with status 2(.|\\n)*no lookalike bundle"):
        start_server(tmp_path / "none", tmp_path, env=server_env())
    assert "no lookalike bundle" in (tmp_path / "server.log").read_text()


def test_stop_server_without_a_process_does_nothing():
    stop_server(None)
