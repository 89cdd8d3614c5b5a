"""A throwaway PostgreSQL server for tests and benches: initdb + pg_ctl in a temporary directory.

The server binaries come from the system (`initdb` on PATH or /usr/lib/postgresql/*/bin;
`.ci/run` installs them with apt where missing). PostgreSQL refuses to run as root, so as
root the server runs as the `postgres` user.
"""

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

from bench.servers import free_port


def _binary(name: str) -> str:
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None
    )
    if found is None:
        raise RuntimeError(
            f"PostgreSQL's {name} was not found; install the server (apt-get install postgresql)."
        )
    return found


class PostgresServer:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="responsd-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self._as_root = os.geteuid() == 0

    def _run(self, *args: str) -> None:
        command = list(args)
        if self._as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True)

    def start(self) -> "PostgresServer":
        if self._as_root:
            shutil.chown(self.root, "postgres")
        self._run(_binary("initdb"), "-D", str(self.data), "-A", "trust", "-U", "responsd")
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c max_connections=200"
        )
        self._run(
            _binary("pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-w",
            "-l",
            str(self.root / "log"),
            "start",
        )
        return self

    def create_database(self) -> str:
        """A fresh, empty database; its SQLAlchemy URL."""
        name = "t_" + uuid.uuid4().hex[:12]
        self._run(
            _binary("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "responsd", name
        )
        return f"postgresql://responsd@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        try:
            self._run(_binary("pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
