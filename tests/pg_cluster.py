"""A private PostgreSQL server for tests that need server settings no session may change
(`fsync`): `initdb` into a temporary folder and `postgres` on a free loopback port.

It needs PostgreSQL's server programs (`initdb`, `postgres`, found on PATH or under
/usr/lib/postgresql/*/bin); without them the test skips, saying so. PostgreSQL
refuses to run as root, so under root the server runs as the `postgres` user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest


def _program(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def _as_server_user(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    return ["su", "postgres", "-s", "/bin/sh", "-c", " ".join(command)]


@contextmanager
def private_postgres(*settings: str) -> Iterator[str]:
    """A fresh server started with `-c` `settings` (`"fsync=off"`); yields its admin URL.

    Its folder is a new one under the system's temporary folder (pytest's are
    private to the user running the tests, which the server's user may not be).
    """
    initdb, postgres = _program("initdb"), _program("postgres")
    if initdb is None or postgres is None:
        pytest.skip("PostgreSQL's initdb and postgres are not installed: no private server")
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root without a postgres user: no private server")
    folder = Path(tempfile.mkdtemp(prefix="pai-postgres-"))
    if os.geteuid() == 0:
        os.chown(folder, owner.pw_uid, owner.pw_gid)
    try:
        yield from _serve(initdb, postgres, folder, settings)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _serve(initdb: str, postgres: str, folder: Path, settings: tuple[str, ...]) -> Iterator[str]:
    data = folder / "data"
    subprocess.run(
        _as_server_user([initdb, "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"]),
        check=True,
        capture_output=True,
        timeout=120,
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    options = [part for setting in settings for part in ("-c", setting)]
    server = subprocess.Popen(
        _as_server_user(
            [
                postgres,
                "-D",
                str(data),
                "-p",
                str(port),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                f"unix_socket_directories={folder}",
                *options,
            ]
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                psycopg.connect(url).close()
                break
            except psycopg.OperationalError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the private PostgreSQL server did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGINT)  # fast shutdown; its group holds `su` too
        server.wait(timeout=60)
