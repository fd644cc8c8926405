"""Server processes several tests start: PgBouncer in front of a PostgreSQL, and a primary
with a streaming replica."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.helpers import free_port, listening

INI = """[databases]
* = host={host} port={port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {listen}
auth_type = trust
auth_file = {folder}/users.txt
pool_mode = transaction
default_pool_size = 4
max_client_conn = 100
ignore_startup_parameters = extra_float_digits
unix_socket_dir =
logfile = {folder}/pgbouncer.log
"""


@contextlib.contextmanager
def pgbouncer(dsn: str) -> Iterator[int]:
    """pgbouncer (transaction pooling, 4 server connections) in front of ``dsn``'s server:
    its port on loopback."""
    binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    if not Path(binary).exists():
        if os.environ.get("CI"):
            pytest.fail("pgbouncer is missing: apt-get install pgbouncer")
        pytest.skip("pgbouncer is not installed (apt-get install pgbouncer)")
    parts = urlsplit(dsn)
    host = parse_qs(parts.query).get("host", [parts.hostname or "127.0.0.1"])[0]
    folder = Path(tempfile.mkdtemp(prefix="pgb"))
    listen = free_port()
    ini = folder / "pgbouncer.ini"
    ini.write_text(INI.format(host=host, port=parts.port or 5432, listen=listen, folder=folder))
    (folder / "users.txt").write_text('"postgres" ""\n')
    command = [binary, str(ini)]
    if os.geteuid() == 0:  # pgbouncer refuses to run as root: run it as the server's user
        # (the embedded server's socket folder belongs to it), else as postgres.
        user = Path(host).owner() if host.startswith("/") else "postgres"
        shutil.chown(folder, user)
        for path in folder.iterdir():
            shutil.chown(path, user)
        command = ["runuser", "-u", user, "--", *command]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    listening(listen)
    try:
        yield listen
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


class Cluster:
    """A primary (pgserver) and a streaming replica of it, run as the server's own user."""

    def __init__(self, folder: Path) -> None:
        import pgserver

        logging.getLogger("pgserver").setLevel(logging.WARNING)
        self.folder = folder
        self.primary = pgserver.get_server(folder / "primary", cleanup_mode="stop")
        self.primary_dsn: str = self.primary.get_uri()
        self.bin = Path(pgserver.__file__).parent / "pginstall" / "bin"
        self.user: str | None = self.primary.system_user  # set when we are root
        self.data = folder / "replica"
        self.sockets = folder / "replica-sockets"
        self.port = free_port()
        for path in (folder, self.sockets):
            path.mkdir(exist_ok=True)
            if self.user:
                shutil.chown(path, self.user)
        host = parse_qs(urlsplit(self.primary_dsn).query)["host"][0]
        self.run("pg_basebackup", "-h", host, "-U", "postgres", "-D", str(self.data), "-R")
        assert (self.data / "standby.signal").exists()  # a standby, streaming from the primary
        self.start()
        self.replica_dsn = f"postgresql://postgres@/postgres?host={self.sockets}&port={self.port}"

    def run(self, tool: str, *args: str) -> None:
        command = [str(self.bin / tool), *args]
        if self.user:
            command = ["runuser", "-u", self.user, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr[-2000:]

    def start(self) -> None:
        options = f"-p {self.port} -k {self.sockets} -c listen_addresses=''"
        log = str(self.data / "replica.log")
        self.run("pg_ctl", "-D", str(self.data), "-o", options, "-l", log, "-w", "start")

    def close(self) -> None:
        """Stop both servers and remove their files."""
        if (self.data / "postmaster.pid").exists():
            self.stop()
        self.primary.cleanup()
        shutil.rmtree(self.folder, ignore_errors=True)

    def stop(self) -> None:
        self.run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")


class WebhookReceiver:
    """A real HTTP server on loopback that records every POST (headers and body) and
    answers with the next status code of ``codes`` (200 once they run out)."""

    def __init__(self, codes: list[int] | None = None) -> None:
        import http.server
        import threading

        self.codes = list(codes or [])
        self.received: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # http.server's naming
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                code = receiver.codes.pop(0) if receiver.codes else 200
                self.send_response(code)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()
