"""The deployment of docs/deployment.md with real clients: a daemon configured by cutover.yaml
serves TLS with bearer tokens to the OpenTelemetry SDK (gRPC and HTTP), Prometheus remote_write,
Alertmanager webhooks and `cutover mark`, and RFC 5425 syslog with client certificates to
syslog-ng; certificates reload on SIGHUP without dropping connections; a listener reachable from
other hosts with nothing authenticating it refuses to start; a bad config key names its line.

Certificates come from a throwaway CA made with the openssl CLI."""

import datetime
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import grpc
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.trace.v1 import trace_pb2
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from conftest import BIN, Daemon, metric_value, query, to_yaml, wait_until
from test_prometheus import AM, PROM, Proc, Target, free_port
from test_syslog_ng import SYSLOG_NG

OPENSSL = shutil.which("openssl")
pytestmark = pytest.mark.skipif(not OPENSSL, reason="openssl CLI not installed")

SERIAL_A = 0x1001
SERIAL_B = 0x2002

OPENSSL_CNF = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = cutover test
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


def openssl(cwd, *args):
    out = subprocess.run([OPENSSL, *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr


def make_pki(d):
    """A CA, two server certificates (serials A and B, SAN IP:127.0.0.1 and DNS:localhost) and a
    client certificate, all EC P-256 keys in PKCS#8 PEM."""
    (d / "openssl.cnf").write_text(OPENSSL_CNF)
    newkey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl(d, "req", "-x509", "-new", *newkey, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
            "-config", "openssl.cnf", "-extensions", "ca", "-subj", "/CN=cutover test CA")
    for name, profile, serial, cn in (("server", "server", SERIAL_A, "localhost"),
                                      ("server-b", "server", SERIAL_B, "localhost"),
                                      ("client", "client", 0x3003, "syslog-ng client")):
        openssl(d, "req", "-new", *newkey, "-keyout", f"{name}.key", "-out", f"{name}.csr",
                "-config", "openssl.cnf", "-subj", f"/CN={cn}")
        openssl(d, "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                "-set_serial", str(serial), "-days", "2", "-out", f"{name}.crt",
                "-extfile", "openssl.cnf", "-extensions", profile)
    return SimpleNamespace(ca=str(d / "ca.crt"), cert=str(d / "server.crt"), key=str(d / "server.key"),
                           cert_b=str(d / "server-b.crt"), key_b=str(d / "server-b.key"),
                           client_cert=str(d / "client.crt"), client_key=str(d / "client.key"))


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


# Token name -> receivers; each token's value is random and read from its own file.
FILE_TOKENS = {
    "region-a": ["otlp", "prometheus_remote_write", "alertmanager"],
    "runbook": ["markers"],
    "scraper": ["metrics"],
    "otlp-only": ["otlp"],
}


def merge(base, extra):
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            merge(base[k], v)
        else:
            base[k] = v
    return base


def start_secure(tmp, pki, config=None, extra=(), tls=None):
    """A daemon from a cutover.yaml with TLS on the gRPC and HTTP listeners and the tokens of
    FILE_TOKENS plus `region-b` (otlp) from the environment. `config` is merged into the file."""
    tmp = Path(tmp)
    token_dir = tmp / "tokens"
    token_dir.mkdir()
    tokens, files, entries = {}, {}, []
    for name, receivers in FILE_TOKENS.items():
        tokens[name] = secrets.token_urlsafe(24)
        files[name] = str(token_dir / name)
        # The scraper's file checks the rule "first line, surrounding whitespace removed"; the
        # others are what real clients (Prometheus, Alertmanager) can read too.
        text = f"  {tokens[name]}\t\nnot the token\n" if name == "scraper" else tokens[name] + "\n"
        Path(files[name]).write_text(text)
        entries.append({"name": name, "file": files[name], "receivers": receivers})
    tokens["region-b"] = secrets.token_urlsafe(24)
    entries.append({"name": "region-b", "env": "CUTOVER_TOKEN_REGION_B", "receivers": ["otlp"]})
    tls = tls or {"cert": pki.cert, "key": pki.key}
    cfg = {
        "auth": {"tokens": entries},
        "listeners": {"grpc": {"addr": "127.0.0.1:0", "tls": tls}, "http": {"addr": "127.0.0.1:0", "tls": tls}},
    }
    merge(cfg, config or {})
    path = tmp / "cutover.yaml"
    path.write_text(to_yaml(cfg))
    data = tmp / "data"
    data.mkdir()
    # Debug logs, so that "tokens are never logged" is checked where it is most likely to fail.
    d = Daemon(str(data), extra=["--config", str(path), *extra],
               env={"CUTOVER_TOKEN_REGION_B": tokens["region-b"], "CUTOVER_LOG": "debug"})
    d.tokens, d.token_files, d.ca = tokens, files, pki.ca
    return d


@pytest.fixture
def secure(tmp_path, pki):
    d = start_secure(tmp_path, pki)
    yield d
    d.stop()


def assert_no_token_logged(d, *also):
    log = d.stderr_text()
    for value in (*d.tokens.values(), *also):
        assert value not in log, "a token appears in the daemon's log"


def host_port(addr):
    host, port = addr.rsplit(":", 1)
    return host, int(port)


def https(d, method, path, body=None, token=None, headers=None):
    """One request on a fresh TLS connection that trusts only the test CA."""
    ctx = ssl.create_default_context(cafile=d.ca)
    conn = http.client.HTTPSConnection(*host_port(d.http), context=ctx, timeout=10)
    h = dict(headers or {})
    if token:
        h["Authorization"] = f"Bearer {token}"
    try:
        conn.request(method, path, body=body, headers=h)
        r = conn.getresponse()
        return r.status, r.headers, r.read()
    finally:
        conn.close()


def metrics(d):
    status, _, body = https(d, "GET", "/metrics", token=d.tokens["scraper"])
    assert status == 200, body
    return body.decode()


PB = {"Content-Type": "application/x-protobuf"}


def span_request(name):
    span = trace_pb2.Span(trace_id=secrets.token_bytes(16), span_id=secrets.token_bytes(8), name=name,
                          start_time_unix_nano=1_700_000_000_000_000_000, end_time_unix_nano=1_700_000_000_100_000_000)
    return trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[trace_pb2.ResourceSpans(scope_spans=[trace_pb2.ScopeSpans(spans=[span])])])


def finished_spans(name, service):
    """One span made by the SDK, for handing to an exporter directly (to see its result)."""
    mem = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service, "cloud.region": "us-east-1"}))
    provider.add_span_processor(SimpleSpanProcessor(mem))
    with provider.get_tracer("cutover-tests").start_as_current_span(name, kind=SpanKind.SERVER):
        pass
    provider.shutdown()
    return mem.get_finished_spans()


def export(exporter, name, service):
    try:
        return exporter.export(finished_spans(name, service))
    finally:
        exporter.shutdown()


def closed_by_peer(sock, timeout=10):
    """True when the peer closes (EOF, reset or a TLS alert) within `timeout`, whatever it sent first."""
    sock.settimeout(timeout)
    deadline = time.time() + timeout
    try:
        while time.time() < deadline:
            if sock.recv(4096) == b"":
                return True
    except (ConnectionResetError, ssl.SSLError):
        return True
    except socket.timeout:
        return False
    return False


def test_otel_sdk_over_grpc_with_tls_and_a_token(secure):
    d = secure
    creds = grpc.ssl_channel_credentials(root_certificates=Path(d.ca).read_bytes())

    def exporter(token):
        headers = {"authorization": f"Bearer {token}"} if token else None
        return GrpcSpanExporter(endpoint=f"https://{d.grpc}", credentials=creds, headers=headers, timeout=10)

    assert export(exporter(d.tokens["region-a"]), "grpc-file-token", "checkout") == SpanExportResult.SUCCESS
    assert export(exporter(d.tokens["region-b"]), "grpc-env-token", "checkout") == SpanExportResult.SUCCESS
    assert export(exporter(None), "grpc-no-token", "checkout") == SpanExportResult.FAILURE
    assert export(exporter("not-a-token"), "grpc-bad-token", "checkout") == SpanExportResult.FAILURE

    channel = grpc.secure_channel(d.grpc, creds)
    stub = trace_service_pb2_grpc.TraceServiceStub(channel)
    cases = [(None, grpc.StatusCode.UNAUTHENTICATED), ("not-a-token-either", grpc.StatusCode.UNAUTHENTICATED),
             (d.tokens["runbook"], grpc.StatusCode.PERMISSION_DENIED)]
    for token, code in cases:
        metadata = [("authorization", f"Bearer {token}")] if token else []
        with pytest.raises(grpc.RpcError) as e:
            stub.Export(span_request("grpc-raw-refused"), metadata=metadata, timeout=10)
        assert e.value.code() == code, (token, e.value)
    channel.close()

    rows = query(d.data_dir, "SELECT name, service, region FROM spans ORDER BY name")
    assert rows == [{"name": "grpc-env-token", "service": "checkout", "region": "us-east-1"},
                    {"name": "grpc-file-token", "service": "checkout", "region": "us-east-1"}]
    text = metrics(d)
    # Two refused SDK exports (UNAUTHENTICATED is not retried) and two raw calls.
    assert metric_value(text, "cutover_ingest_requests_total", outcome="unauthenticated", receiver="otlp_grpc") == 4
    assert metric_value(text, "cutover_ingest_requests_total", outcome="forbidden", receiver="otlp_grpc") == 1
    assert_no_token_logged(d, "not-a-token")


def test_otel_sdk_over_http_with_tls_and_a_token(secure, monkeypatch):
    d = secure
    # requests prefers these to the exporter's CA file; this machine sets them.
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    ok = HttpSpanExporter(endpoint=f"https://{d.http}/v1/traces", certificate_file=d.ca,
                          headers={"Authorization": f"Bearer {d.tokens['region-a']}"}, timeout=10)
    assert export(ok, "http-args", "payments") == SpanExportResult.SUCCESS
    # The client setup of docs/deployment.md, environment variables only (timeout in seconds).
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", f"https://{d.http}/v1/traces")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_CERTIFICATE", d.ca)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "10")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", f"Authorization=Bearer%20{d.tokens['region-b']}")
    assert export(HttpSpanExporter(), "http-env", "payments") == SpanExportResult.SUCCESS
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_HEADERS")
    assert export(HttpSpanExporter(), "http-no-token", "payments") == SpanExportResult.FAILURE

    body = span_request("http-raw-refused").SerializeToString()
    status, _, _ = https(d, "POST", "/v1/traces", body, token=d.tokens["runbook"], headers=PB)
    assert status == 403
    for token in (None, "not-a-token"):
        status, headers, _ = https(d, "POST", "/v1/traces", body, token=token, headers=PB)
        assert status == 401, token
        assert headers["WWW-Authenticate"].startswith("Bearer"), headers
    # The token is checked before the body is read: 50 MB announced, none sent, answered at once.
    ctx = ssl.create_default_context(cafile=d.ca)
    with socket.create_connection(host_port(d.http), timeout=10) as raw, \
            ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
        s.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: cutover\r\nContent-Type: application/x-protobuf\r\n"
                  b"Content-Length: 50000000\r\n\r\n")
        s.settimeout(5)
        assert s.recv(4096).startswith(b"HTTP/1.1 401"), "no 401 before the body"

    assert https(d, "GET", "/healthz")[0] == 200
    assert https(d, "GET", "/metrics")[0] == 401
    assert https(d, "GET", "/metrics", token=d.tokens["region-a"])[0] == 403

    rows = query(d.data_dir, "SELECT name, service, region FROM spans ORDER BY name")
    assert rows == [{"name": "http-args", "service": "payments", "region": "us-east-1"},
                    {"name": "http-env", "service": "payments", "region": "us-east-1"}]
    text = metrics(d)
    # The SDK without a token (401 is not retried), two raw requests and the headers-only one.
    assert metric_value(text, "cutover_ingest_requests_total", outcome="unauthenticated", receiver="otlp_http") == 4
    assert metric_value(text, "cutover_ingest_requests_total", outcome="forbidden", receiver="otlp_http") == 1
    assert_no_token_logged(d, "not-a-token")


def write_text(path, text):
    Path(path).write_text(text)
    return str(path)


@pytest.mark.skipif(not PROM, reason="prometheus not installed")
def test_prometheus_remote_write_over_https_with_a_token(tmp_path, pki):
    d = start_secure(tmp_path, pki, {"receivers": {"prometheus_remote_write": {"region_label": "dc"}}})
    target = Target()
    prom_dir = tmp_path / "prom"
    prom_dir.mkdir()
    cfg = write_text(prom_dir / "prometheus.yml", f"""global:
  scrape_interval: 1s
  external_labels: {{dc: us-west-2}}
scrape_configs:
- job_name: frontend
  static_configs:
  - targets: ['127.0.0.1:{target.port}']
remote_write:
- url: https://{d.http}/api/v1/write
  authorization: {{credentials_file: {d.token_files['region-a']}}}
  tls_config: {{ca_file: {pki.ca}}}
  queue_config: {{batch_send_deadline: 1s, min_backoff: 100ms, max_backoff: 1s}}
""")
    prom = Proc([PROM, f"--config.file={cfg}", f"--storage.tsdb.path={prom_dir / 'data'}",
                 f"--web.listen-address=127.0.0.1:{free_port()}"], str(prom_dir / "prometheus.log"))
    try:
        sql = "SELECT region, source, value FROM metric_points WHERE name = 'drill_requests_total'"

        def arrived():
            assert prom.proc.poll() is None, (prom_dir / "prometheus.log").read_text()
            return len(query(d.data_dir, sql)) > 0

        wait_until(arrived, timeout=60, what="remote_write samples over https")
        rows = query(d.data_dir, sql)
        assert all(r == {"region": "us-west-2", "source": "prometheus_remote_write", "value": 42.0} for r in rows), rows
        text = metrics(d)
        assert metric_value(text, "cutover_ingest_requests_total", outcome="unauthenticated") == 0
        assert metric_value(text, "cutover_ingest_requests_total", outcome="ok", receiver="prometheus_remote_write") >= 1
    finally:
        prom.stop()
        target.stop()
        d.stop()


@pytest.mark.skipif(not AM, reason="prometheus-alertmanager not installed")
def test_alertmanager_webhook_over_https_with_a_token(tmp_path, pki):
    d = start_secure(tmp_path, pki, {"receivers": {"alertmanager": {"region_label": "dc"}}})
    am_dir = tmp_path / "am"
    am_dir.mkdir()
    cfg = write_text(am_dir / "am.yml", f"""route:
  receiver: cutover
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
- name: cutover
  webhook_configs:
  - url: https://{d.http}/v1/alertmanager
    send_resolved: true
    http_config:
      authorization: {{credentials_file: {d.token_files['region-a']}}}
      tls_config: {{ca_file: {pki.ca}}}
""")
    am_port = free_port()
    am = Proc([AM, f"--config.file={cfg}", f"--storage.path={am_dir / 'data'}",
               f"--web.listen-address=127.0.0.1:{am_port}", "--cluster.listen-address="], str(am_dir / "am.log"))

    def am_api(method, path, body=None):
        conn = http.client.HTTPConnection("127.0.0.1", am_port, timeout=5)
        try:
            conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
            r = conn.getresponse()
            return r.status, r.read()
        except OSError:
            return None, b""
        finally:
            conn.close()

    try:
        wait_until(lambda: am_api("GET", "/-/ready")[0] == 200, timeout=30, what="alertmanager ready")
        now = datetime.datetime.now(datetime.timezone.utc).isoformat()
        alert = [{"labels": {"alertname": "SecureDrill", "service": "frontend", "severity": "page", "dc": "us-west-2"},
                  "annotations": {"summary": "frontend is down"}, "startsAt": now}]
        status, body = am_api("POST", "/api/v2/alerts", json.dumps(alert))
        assert status == 200, body
        sql = ("SELECT alertname, status, region, service, receiver, attributes['severity'] AS severity "
               "FROM alerts WHERE alertname = 'SecureDrill'")

        def arrived():
            assert am.proc.poll() is None, (am_dir / "am.log").read_text()
            return len(query(d.data_dir, sql)) > 0

        wait_until(arrived, timeout=60, what="webhook over https")
        rows = query(d.data_dir, sql)
        assert rows[0] == {"alertname": "SecureDrill", "status": "firing", "region": "us-west-2",
                           "service": "frontend", "receiver": "cutover", "severity": "page"}
        assert metric_value(metrics(d), "cutover_ingest_requests_total", outcome="unauthenticated") == 0
    finally:
        am.stop()
        d.stop()


SYSLOG_LINES = [
    "<13>Nov 26 12:00:00 apphost myapp[42]: tls line one",
    "<86>Nov 26 12:00:01 fw1 fwd: CEF:0|Acme|Firewall|3.1|100|Blocked connection|7|src=10.1.1.1 region=us-west-2",
    "<14>Nov 26 12:00:02 apphost myapp: tls line three",
]


def octet_counted(msg):
    return str(len(msg)).encode() + b" " + msg


@pytest.mark.skipif(not SYSLOG_NG, reason="syslog-ng not installed")
def test_syslog_ng_over_tls_with_a_client_certificate(tmp_path, pki):
    tls = {"cert": pki.cert, "key": pki.key, "client_ca": pki.ca}
    d = start_secure(tmp_path, pki, {"listeners": {"syslog_tcp": {"addr": "127.0.0.1:0", "tls": tls}}})
    proc = None
    try:
        addr = host_port(d.fields["syslog_tcp"])
        # Plain TCP to the TLS port: not a TLS record, the connection is closed.
        with socket.create_connection(addr, timeout=10) as s:
            s.sendall(octet_counted(b"<13>1 - h app - - - plaintext must not land"))
            assert closed_by_peer(s)
        # TLS without a client certificate: refused (during the handshake with TLS 1.2, just
        # after it with TLS 1.3).
        ctx = ssl.create_default_context(cafile=pki.ca)
        try:
            with socket.create_connection(addr, timeout=10) as raw, \
                    ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                s.sendall(octet_counted(b"<13>1 - h app - - - no client certificate must not land"))
                assert closed_by_peer(s)
        except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
            pass

        src = tmp_path / "in.log"
        src.write_text("".join(l + "\n" for l in SYSLOG_LINES))
        conf = write_text(tmp_path / "syslog-ng.conf", f"""@version: 3.38
options {{ keep-hostname(yes); stats-freq(0); }};
source s_in {{ file("{src}" follow-freq(0.2)); }};
destination d_tls {{
    syslog("127.0.0.1" port({addr[1]}) transport("tls")
        tls(ca-file("{pki.ca}") cert-file("{pki.client_cert}") key-file("{pki.client_key}")
            peer-verify(required-trusted)));
}};
log {{ source(s_in); destination(d_tls); }};
""")
        log = tmp_path / "syslog-ng.out"
        with open(log, "w") as out:
            proc = subprocess.Popen([SYSLOG_NG, "-F", "--no-caps", "-f", conf, "-p", str(tmp_path / "pid"),
                                     "-c", str(tmp_path / "ctl"), "-R", str(tmp_path / "persist")],
                                    stdout=out, stderr=subprocess.STDOUT)
        sql = "SELECT source, format, hostname, message, is_cef, region FROM siem ORDER BY message"

        def arrived():
            assert proc.poll() is None, log.read_text()
            return len(query(d.data_dir, sql)) >= 3

        wait_until(arrived, timeout=60, what="3 siem events over TLS")
        rows = query(d.data_dir, sql)
        assert len(rows) == 3, rows  # nothing from the plain or the certificate-less connection
        assert {(r["source"], r["format"]) for r in rows} == {("syslog_tcp", "rfc5424")}
        assert [r["message"] for r in rows if not r.get("is_cef")] == ["tls line one", "tls line three"]
        assert [(r["hostname"], r["region"]) for r in rows if r.get("is_cef")] == [("fw1", "us-west-2")]
    finally:
        if proc:
            proc.terminate()
            proc.wait(timeout=15)
        d.stop()


def run_mark(d, kind, *args, token_env=None):
    env = {k: v for k, v in os.environ.items() if k != "CUTOVER_TOKEN"}
    if token_env:
        env["CUTOVER_TOKEN"] = token_env
    return subprocess.run([BIN, "mark", kind, "--endpoint", f"https://{d.http}", "--ca-file", d.ca, *args],
                          capture_output=True, text=True, timeout=30, env=env)


def test_cutover_mark_over_https_with_a_token(secure):
    d = secure
    out = run_mark(d, "dns_cutover", "--token-file", d.token_files["runbook"])
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["kind"] == "dns_cutover"
    out = run_mark(d, "drill_started", token_env=d.tokens["runbook"])
    assert out.returncode == 0, out.stderr
    refused = [run_mark(d, "failover_declared", "--token-file", d.token_files["otlp-only"]),
               run_mark(d, "failover_declared")]
    assert refused[0].returncode == 2 and "403" in refused[0].stderr, refused[0].stderr
    assert refused[1].returncode == 2 and "401" in refused[1].stderr, refused[1].stderr
    for out in refused:
        assert all(t not in out.stdout + out.stderr for t in d.tokens.values())
    rows = query(d.data_dir, "SELECT marker, source, region FROM markers ORDER BY marker")
    assert rows == [{"marker": "dns_cutover", "source": "markers_api", "region": "default-region"},
                    {"marker": "drill_started", "source": "markers_api", "region": "default-region"}]
    assert_no_token_logged(d)


def peer_serial(d, addr):
    ctx = ssl.create_default_context(cafile=d.ca)
    with socket.create_connection(host_port(addr), timeout=10) as raw, \
            ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
        return int(s.getpeercert()["serialNumber"], 16)


def replace_file(src, dst):
    """Atomically, the way certificate managers do."""
    shutil.copyfile(src, dst + ".new")
    os.replace(dst + ".new", dst)


def post_span_on(conn, d, name):
    conn.request("POST", "/v1/traces", body=span_request(name).SerializeToString(),
                 headers={**PB, "Authorization": f"Bearer {d.tokens['region-a']}"})
    r = conn.getresponse()
    r.read()
    return r.status


def test_certificates_reload_on_sighup_without_dropping_connections(tmp_path, pki):
    tls_dir = tmp_path / "tls"
    tls_dir.mkdir()
    cert, key = str(tls_dir / "server.crt"), str(tls_dir / "server.key")
    shutil.copyfile(pki.cert, cert)
    shutil.copyfile(pki.key, key)
    d = start_secure(tmp_path, pki, tls={"cert": cert, "key": key})
    try:
        assert peer_serial(d, d.http) == SERIAL_A and peer_serial(d, d.grpc) == SERIAL_A
        kept = http.client.HTTPSConnection(*host_port(d.http), context=ssl.create_default_context(cafile=d.ca), timeout=10)
        assert post_span_on(kept, d, "before-reload") == 200
        kept_port = kept.sock.getsockname()[1]

        # A certificate whose key does not match: the reload fails and the old certificate stays
        # (watched for longer than the 5 s file check).
        replace_file(pki.cert_b, cert)
        d.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 6
        while time.time() < deadline:
            assert d.alive(), d.stderr_text()
            assert peer_serial(d, d.http) == SERIAL_A
            kept.request("GET", "/healthz")  # keeps it from idling out
            resp = kept.getresponse()
            resp.read()
            assert resp.status == 200
            time.sleep(0.5)

        replace_file(pki.key_b, key)
        d.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: peer_serial(d, d.http) == SERIAL_B, timeout=10, what="new handshakes use certificate B")
        wait_until(lambda: peer_serial(d, d.grpc) == SERIAL_B, timeout=10, what="the gRPC listener uses B")

        # The connection opened before the reload kept its session and still serves.
        assert post_span_on(kept, d, "after-reload") == 200
        assert kept.sock.getsockname()[1] == kept_port, "the keep-alive connection was replaced"
        assert int(kept.sock.getpeercert()["serialNumber"], 16) == SERIAL_A
        kept.close()

        # Without a signal: changed files are picked up by the 5 s check.
        replace_file(pki.cert, cert)
        replace_file(pki.key, key)
        wait_until(lambda: peer_serial(d, d.http) == SERIAL_A, timeout=12,
                   what="certificate A back after a file change alone")
        names = [r["name"] for r in query(d.data_dir, "SELECT name FROM spans ORDER BY name")]
        assert names == ["after-reload", "before-reload"]
    finally:
        d.stop()


def ingest_once(tmp, cfg, *flags):
    """`cutover ingest --config` expected to exit by itself."""
    path = write_text(Path(tmp) / "cutover.yaml", to_yaml(cfg))
    return subprocess.run([BIN, "ingest", "--config", path, *flags], capture_output=True, text=True, timeout=60)


def test_a_public_listener_with_nothing_authenticating_it_refuses_to_start(tmp_path, pki):
    token = tmp_path / "token"
    token.write_text(secrets.token_urlsafe(24) + "\n")
    tokens = {"tokens": [{"name": "region-a", "file": str(token)}]}
    loopback = {"grpc": {"addr": "127.0.0.1:0"}, "http": {"addr": "127.0.0.1:0"}}
    public_http = {"listeners": {**loopback, "http": {"addr": "0.0.0.0:0"}}}
    refused = [
        ("http", r"\bhttp\b|otlp_http", public_http),
        ("syslog_udp", "syslog_udp", {"auth": tokens, "listeners": {**loopback, "syslog_udp": {"addr": "0.0.0.0:0"}}}),
        ("syslog_tcp", "syslog_tcp", {"auth": tokens, "listeners": {
            **loopback, "syslog_tcp": {"addr": "0.0.0.0:0", "tls": {"cert": pki.cert, "key": pki.key}}}}),
    ]
    for i, (name, pattern, cfg) in enumerate(refused):
        data = tmp_path / f"refused-{i}"
        data.mkdir()
        out = ingest_once(tmp_path, {"data_dir": str(data), **cfg})
        assert out.returncode != 0 and "ready" not in out.stdout, (name, out.stdout)
        assert "allow_unauthenticated" in out.stderr and re.search(pattern, out.stderr), (name, out.stderr)

    started = [
        ("allow_unauthenticated in the file", {**public_http, "auth": {"allow_unauthenticated": True}}, []),
        ("--allow-unauthenticated", public_http, ["--allow-unauthenticated"]),
        ("tokens", {**public_http, "auth": tokens}, []),
    ]
    for i, (name, cfg, flags) in enumerate(started):
        data = tmp_path / f"started-{i}"
        data.mkdir()
        path = write_text(tmp_path / f"started-{i}.yaml", to_yaml(cfg))
        d = Daemon(str(data), listen=False, extra=["--config", path, *flags])
        try:
            host, port = host_port(d.http)
            assert host == "0.0.0.0", (name, d.http)
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", "/healthz")
            assert conn.getresponse().status == 200, name
            conn.close()
        finally:
            d.stop()


def yaml_values(text, key):
    """Values of every `key: value` line of a YAML text, quotes removed."""
    return [v.strip("'\"") for v in re.findall(rf"^\s*-?\s*{re.escape(key)}:\s*(.*?)\s*$", text, re.M)]


def test_config_errors_name_the_line_and_print_config_shows_the_effective_values(tmp_path):
    bad = [
        ("unknown key", "region: r\nlistners:\n  http:\n    addr: 127.0.0.1:0\n", 2, "listners"),
        ("unknown nested key", "listeners:\n  http:\n    addr: 127.0.0.1:0\n    header_timeout: 5\n", 4, "header_timeout"),
        ("wrong type", "limits:\n  inflight_bytes: 1048576\n  max_body_bytes: lots\n", 3, "lots"),
        ("unknown mode", "log:\n  fsync: sometimes\n", 2, "sometimes"),
    ]
    for name, text, line, word in bad:
        path = write_text(tmp_path / "bad.yaml", text)
        out = subprocess.run([BIN, "ingest", "--config", path, "--print-config"], capture_output=True, text=True, timeout=30)
        assert out.returncode == 2, (name, out.stdout, out.stderr)
        lines = {int(a or b) for a, b in re.findall(r"\bline (\d+)|:(\d+):\d+", out.stderr)}
        assert line in lines and word in out.stderr, (name, out.stderr)

    file_token, env_token = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    token_path = write_text(tmp_path / "token", file_token + "\n")
    cfg = {
        "data_dir": str(tmp_path / "from-file"),
        "region": "file-region",
        "limits": {"max_body_bytes": 123456},
        "auth": {"tokens": [{"name": "region-a", "file": token_path, "receivers": ["otlp"]},
                            {"name": "region-b", "env": "CUTOVER_TOKEN_REGION_B", "receivers": ["otlp"]}]},
        "listeners": {"http": {"addr": "127.0.0.1:4999", "header_timeout_secs": 3}},
    }
    path = write_text(tmp_path / "cutover.yaml", to_yaml(cfg))
    out = subprocess.run([BIN, "ingest", "--config", path, "--print-config", "--region", "flag-region",
                          "--syslog-tcp", "127.0.0.1:6514"], capture_output=True, text=True, timeout=30,
                         env={**os.environ, "CUTOVER_TOKEN_REGION_B": env_token})
    assert out.returncode == 0, out.stderr
    y = out.stdout
    assert yaml_values(y, "region") == ["flag-region"] and "file-region" not in y  # the flag wins
    assert yaml_values(y, "data_dir") == [str(tmp_path / "from-file")]             # the file, no flag
    assert "123456" in yaml_values(y, "max_body_bytes")
    assert "3" in yaml_values(y, "header_timeout_secs")
    assert any(v.isdigit() for v in yaml_values(y, "body_timeout_secs"))            # a default
    assert "127.0.0.1:4999" in y and "127.0.0.1:6514" in y
    assert "region-a" in y and "CUTOVER_TOKEN_REGION_B" in y
    assert file_token not in y + out.stderr and env_token not in y + out.stderr
