"""Shared fixtures: a real `cutover ingest` process on ephemeral ports, and `cutover query`."""

import json
import os
import re
import subprocess
import tempfile
import time

import pytest

BIN = os.environ.get("CUTOVER_BIN", "cutover")


class Daemon:
    """`cutover ingest` on 127.0.0.1:0 (unless `listen` is false: then the addresses come from
    `extra`, e.g. a --config file). Its stderr goes to a file, so a chatty daemon never blocks on
    a full pipe; `stderr_text()` reads it."""

    def __init__(self, data_dir, region="default-region", extra=(), env=None, listen=True):
        self.data_dir = data_dir
        fd, self.stderr_path = tempfile.mkstemp(prefix="cutover-ingest-", suffix=".stderr")
        os.close(fd)
        addrs = ["--otlp-grpc", "127.0.0.1:0", "--otlp-http", "127.0.0.1:0"] if listen else []
        with open(self.stderr_path, "ab") as err:
            self.proc = subprocess.Popen(
                [BIN, "ingest", "--data-dir", data_dir, *addrs, "--region", region, *extra],
                stdout=subprocess.PIPE, stderr=err, text=True,
                env=None if env is None else {**os.environ, **env})
        line = self.proc.stdout.readline()
        if not line.startswith("cutover ingest ready"):
            self.proc.kill()
            self.proc.wait()
            err = self.stderr_text()
            os.unlink(self.stderr_path)
            raise RuntimeError(f"daemon did not start: {line!r} {err}")
        fields = dict(w.split("=", 1) for w in line.split()[3:])
        self.fields = fields
        self.grpc = fields["otlp_grpc"]
        self.http = fields["otlp_http"]

    def alive(self):
        return self.proc.poll() is None

    def stderr_text(self):
        with open(self.stderr_path, errors="replace") as f:
            return f.read()

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if os.path.exists(self.stderr_path):
            os.unlink(self.stderr_path)


def query(data_dir, sql):
    out = subprocess.run([BIN, "query", "--data-dir", data_dir, "--format", "json", sql],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return [json.loads(l) for l in out.stdout.splitlines() if l.strip()]


def wait_until(cond, timeout=20.0, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def to_yaml(value, indent=0):
    """A cutover.yaml from dicts: block mappings, lists of mappings as block sequences, other
    values (scalars, lists of scalars) in JSON, which YAML reads as flow style."""
    pad = "  " * indent
    lines = []
    if isinstance(value, dict):
        for k, v in value.items():
            if (isinstance(v, dict) and v) or (isinstance(v, list) and v and isinstance(v[0], dict)):
                lines.append(f"{pad}{k}:")
                lines.append(to_yaml(v, indent + 1).rstrip("\n"))
            else:
                lines.append(f"{pad}{k}: {json.dumps(v)}")
    else:
        for item in value:
            block = to_yaml(item, indent + 1).rstrip("\n")
            lines.append(pad + "- " + block[len(pad) + 2:])
    return "\n".join(lines) + "\n"


def metric_value(text, name, **labels):
    """Sum of the samples of metric `name` (Prometheus text format) whose labels include `labels`."""
    total = 0.0
    for line in text.splitlines():
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)", line)
        if not m or m.group(1) != name:
            continue
        got = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        if all(got.get(k) == v for k, v in labels.items()):
            total += float(m.group(3))
    return total


@pytest.fixture
def daemon():
    with tempfile.TemporaryDirectory() as d:
        dm = Daemon(d)
        yield dm
        dm.stop()


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory):
    """A demo drill (seed 1) written once per session; its spec is DATA_DIR/drill.yaml."""
    from pgserve import write_demo
    d = str(tmp_path_factory.mktemp("demo") / "data")
    write_demo(d)
    return d


@pytest.fixture(scope="session")
def served(demo_dir):
    """`cutover serve` over the demo drill, no password (loopback), for the whole session."""
    from pgserve import Serve
    s = Serve(demo_dir)
    yield s
    s.stop()
