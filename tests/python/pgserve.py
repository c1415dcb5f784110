"""`cutover serve` for the SQL-wire tests: a demo drill written once per session, and servers
started on 127.0.0.1:0 over it (the ready line gives the port)."""

import os
import subprocess
import tempfile

from conftest import BIN, Daemon


class Serve:
    """A `cutover serve` process. `extra` adds flags; `env` adds environment variables."""

    def __init__(self, data_dir, extra=(), env=None, cmd="serve"):
        fd, self.stderr_path = tempfile.mkstemp(prefix="cutover-serve-", suffix=".stderr")
        os.close(fd)
        args = [BIN, cmd, "--data-dir", data_dir, *extra]
        if cmd == "serve":
            args += ["--pg-listen", "127.0.0.1:0"]
        with open(self.stderr_path, "ab") as err:
            self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err, text=True,
                                         env={**os.environ, **(env or {})})
        self.fields = {}
        # `cutover ingest --pg-listen` prints its own ready line first.
        for _ in range(2):
            line = self.proc.stdout.readline()
            if line.startswith("cutover serve ready"):
                self.fields.update(dict(w.split("=", 1) for w in line.split()[3:]))
                break
            if not line.startswith("cutover ingest ready"):
                break
            self.fields.update(dict(w.split("=", 1) for w in line.split()[3:]))
        if "pg" not in self.fields:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError(f"cutover {cmd} did not start: {self.stderr_text()}")
        self.host, port = self.fields["pg"].rsplit(":", 1)
        self.port = int(port)

    stderr_text = Daemon.stderr_text

    def conninfo(self, user="cutover", password=None, **kw):
        parts = [f"host={self.host}", f"port={self.port}", f"user={user}", "dbname=cutover",
                 "sslmode=disable", "connect_timeout=10"]
        if password is not None:
            quoted = password.replace("\\", "\\\\").replace("'", "\\'")
            parts.append(f"password='{quoted}'")
        parts += [f"{k}={v}" for k, v in kw.items()]
        return " ".join(parts)

    def psql(self, *sql, password=None, check=True):
        """Runs psql (the simple query protocol) with one -c per statement; returns stdout."""
        args = ["psql", "-X", "-v", "ON_ERROR_STOP=1", "-At", "-F", "|", self.conninfo(password=password)]
        for s in sql:
            args += ["-c", s]
        r = subprocess.run(args, capture_output=True, text=True, timeout=120,
                           env={**os.environ, "PGCONNECT_TIMEOUT": "10"})
        if check and r.returncode != 0:
            raise AssertionError(f"psql failed ({r.returncode}): {r.stderr}")
        return r

    # A process with `proc` and `stderr_path`, stopped and read like the ingest daemon.
    stop = Daemon.stop


def write_demo(data_dir, seed=1):
    """Runs `cutover demo` into `data_dir` (it writes DATA_DIR/drill.yaml too)."""
    r = subprocess.run([BIN, "demo", "--seed", str(seed), "--data-dir", data_dir, "--format", "json"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert os.path.exists(os.path.join(data_dir, "drill.yaml"))
