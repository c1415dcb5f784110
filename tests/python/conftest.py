"""Shared fixtures: a real `cutover ingest` process on ephemeral ports, and `cutover query`."""

import json
import os
import subprocess
import tempfile
import time

import pytest

BIN = os.environ.get("CUTOVER_BIN", "cutover")


class Daemon:
    def __init__(self, data_dir, region="default-region", extra=()):
        self.data_dir = data_dir
        self.proc = subprocess.Popen(
            [BIN, "ingest", "--data-dir", data_dir, "--otlp-grpc", "127.0.0.1:0",
             "--otlp-http", "127.0.0.1:0", "--region", region, *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("cutover ingest ready"):
            self.proc.kill()
            raise RuntimeError(f"daemon did not start: {line!r} {self.proc.stderr.read()}")
        fields = dict(w.split("=", 1) for w in line.split()[3:])
        self.fields = fields
        self.grpc = fields["otlp_grpc"]
        self.http = fields["otlp_http"]

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


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


@pytest.fixture
def daemon():
    with tempfile.TemporaryDirectory() as d:
        dm = Daemon(d)
        yield dm
        dm.stop()
