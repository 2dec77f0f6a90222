"""A throwaway PostgreSQL server for the tests and the benchmarks: initdb into a temporary
folder, listen on a unix socket there (and a free port number, which names the socket), stop it
when done. No mocks: the distribution's own ``initdb``/``pg_ctl``/``postgres``.

``initdb`` and ``postgres`` refuse to run as root, so as root they run as the ``postgres`` user
(``runuser``) in a folder it owns; otherwise they run as the current user.

    python benchmarks/pgserver.py          # start one, print its URL, stop it on Enter
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

SUPERUSER = "postgres"
# a role with a password, for tests of refused logins (every other role logs in without one)
PASSWORD_ROLE, PASSWORD = "withpassword", "s3cret-Pw"


def find_bin() -> Path | None:
    """The folder holding initdb and pg_ctl: $FAULTSIM_PG_BIN if set, else on PATH, else the
    newest Debian-style install (/usr/lib/postgresql/N/bin)."""
    chosen = os.environ.get("FAULTSIM_PG_BIN")
    if chosen is not None:
        return Path(chosen) if (Path(chosen) / "pg_ctl").is_file() else None
    for name in ("pg_ctl", "initdb", "postgres"):
        found = shutil.which(name)
        if found is None:
            break
    else:
        return Path(os.path.realpath(shutil.which("pg_ctl"))).parent
    installed = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                       key=lambda p: int(p.split("/")[-3]) if p.split("/")[-3].isdigit() else 0)
    return Path(installed[-1]).parent if installed else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ThrowawayServer:
    """One PostgreSQL server in a temporary folder; ``url(dbname)`` connects to it."""

    def __init__(self, bin_dir: Path | None = None, durable: bool = False):
        self.bin = bin_dir or find_bin()
        if self.bin is None:
            raise FileNotFoundError(
                "PostgreSQL's initdb/pg_ctl were not found ($FAULTSIM_PG_BIN, PATH, "
                "/usr/lib/postgresql/*/bin); install PostgreSQL, e.g. apt-get install postgresql")
        self.root = Path(tempfile.mkdtemp(prefix="faultsim-pg-"))
        self.data = self.root / "data"
        self.socket_dir = self.root
        self.port = free_port()
        self.log = self.root / "server.log"
        self._as = ["runuser", "-u", SUPERUSER, "--"] if os.geteuid() == 0 else []
        if self._as:
            pw = pwd.getpwnam(SUPERUSER)
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        self.durable = durable  # fsync as a real server does (benchmarks); tests go without
        self._n = 0
        self.running = False

    def _run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([*self._as, *argv], capture_output=True, text=True, check=check,
                              cwd=self.root, timeout=120)

    def url(self, dbname: str = "postgres", user: str = SUPERUSER, password: str | None = None
            ) -> str:
        auth = user if password is None else f"{user}:{password}"
        return f"postgresql://{auth}@/{dbname}?host={self.socket_dir}&port={self.port}"

    def start(self) -> "ThrowawayServer":
        if not self.data.exists():
            self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", SUPERUSER,
                      "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync")
            hba = self.data / "pg_hba.conf"
            rules = (f"local all {PASSWORD_ROLE} scram-sha-256\n"
                     "local all all trust\n")
            self._write_as_owner(hba, rules)
        # A test server: no fsync (these databases live for one run; a commit still reaches the
        # OS before it is acknowledged, so a killed server loses nothing), one socket only.
        options = (f"-p {self.port} -k {self.socket_dir} -c listen_addresses='' "
                   "-c max_connections=200 -c shared_buffers=128MB")
        if not self.durable:
            options += " -c fsync=off -c full_page_writes=off"
        p = self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log),
                      "-o", options, "-w", "-t", "60", "start", check=False)
        if p.returncode != 0:
            raise RuntimeError(f"PostgreSQL did not start: {p.stderr or p.stdout}\n"
                               f"{self.log.read_text(errors='replace')[-3000:]}")
        self.running = True
        if not getattr(self, "_roles_made", False):
            self.sql(f"CREATE ROLE {PASSWORD_ROLE} LOGIN PASSWORD '{PASSWORD}' CREATEDB")
            self._roles_made = True
        return self

    def _write_as_owner(self, path: Path, text: str) -> None:
        path.write_text(text)
        if self._as:
            pw = pwd.getpwnam(SUPERUSER)
            os.chown(path, pw.pw_uid, pw.pw_gid)

    def stop(self, mode: str = "fast") -> None:
        if self.running:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w",
                      "stop", check=False)
            self.running = False

    def sql(self, statement: str, dbname: str = "postgres") -> None:
        import psycopg

        with psycopg.connect(self.url(dbname), autocommit=True) as conn:
            conn.execute(statement)

    def create_database(self, prefix: str = "t") -> str:
        """A fresh, empty database; returns its URL."""
        self._n += 1
        name = f"{prefix}_{os.getpid()}_{self._n}"
        self.sql(f"CREATE DATABASE {name}")
        return self.url(name)

    def with_password(self, url: str) -> str:
        """``url``'s database, given to the role that logs in with a password; its URL."""
        name = url.split("@/", 1)[1].split("?", 1)[0]
        self.sql(f"ALTER DATABASE {name} OWNER TO {PASSWORD_ROLE}")
        return self.url(name, PASSWORD_ROLE, PASSWORD)

    def drop_database(self, url: str) -> None:
        if not self.running:  # a test that stopped it failed before starting it again
            self.start()
        name = url.split("@/", 1)[1].split("?", 1)[0]
        self.sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def cleanup(self) -> None:
        """Stop the server at once (whatever state the tests left it in) and remove its folder."""
        self.stop("immediate")
        for _ in range(50):
            if not (self.data / "postmaster.pid").exists():
                break
            time.sleep(0.1)
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "ThrowawayServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.cleanup()


if __name__ == "__main__":
    with ThrowawayServer() as server:
        print(server.create_database("demo"), flush=True)
        input("PostgreSQL is running; press Enter to stop it. ")
