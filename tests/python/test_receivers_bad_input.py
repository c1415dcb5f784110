"""Bad input to the remote_write and Alertmanager receivers: the right status and message,
counted, nothing stored that was not acknowledged, and the daemon keeps serving."""

import json
import struct
import urllib.error
import urllib.request

from conftest import Daemon, query


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field(num, payload):
    return varint(num << 3 | 2) + varint(len(payload)) + payload


def write_request(series):
    """Encodes prometheus.WriteRequest by hand: [(labels dict, [(value, ts_ms)])]."""
    out = b""
    for labels, samples in series:
        ts = b"".join(field(1, field(1, k.encode()) + field(2, v.encode())) for k, v in labels.items())
        ts += b"".join(field(2, b"\x09" + struct.pack("<d", v) + b"\x10" + varint(t)) for v, t in samples)
        out += field(1, ts)
    return out


def snappy(data):
    """Snappy block format using literals only (valid, just not compressed)."""
    out = bytearray(varint(len(data)))
    for i in range(0, len(data), 60):
        chunk = data[i:i + 60]
        out.append((len(chunk) - 1) << 2)
        out += chunk
    return bytes(out)


def post(d, path, body, headers):
    req = urllib.request.Request(f"http://{d.http}{path}", data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


RW = {"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy", "X-Prometheus-Remote-Write-Version": "0.1.0"}
GOOD = write_request([({"__name__": "up", "job": "api", "region": "eu-1"}, [(1.0, 1_700_000_000_000)])])


def test_remote_write_bad_input(tmp_path):
    d = Daemon(str(tmp_path), extra=["--max-body-bytes", "2048"])
    try:
        cases = [
            ("no snappy", GOOD, {**RW, "Content-Encoding": "identity"}, 415, "snappy"),
            ("v2", snappy(GOOD), {**RW, "Content-Type": "application/x-protobuf;proto=io.prometheus.write.v2.Request"}, 415, "2.0"),
            ("truncated snappy", snappy(GOOD)[:-5], RW, 400, "invalid snappy body"),
            ("garbage protobuf", snappy(b"\x0a\xff\xff\xff"), RW, 400, "invalid remote_write protobuf"),
            ("no __name__", snappy(write_request([({"job": "api"}, [(1.0, 1)])])), RW, 400, "__name__"),
            ("too large", snappy(write_request([({"__name__": "x" * 3000}, [(1.0, 1)])])), RW, 413, "limit"),
        ]
        for name, body, headers, status, text in cases:
            got, msg = post(d, "/api/v1/write", body, headers)
            assert (got, text in msg) == (status, True), (name, got, msg)
        got, _ = post(d, "/api/v1/write", snappy(GOOD), RW)
        assert got == 204
        rows = query(str(tmp_path), "SELECT name, region, service, value FROM metric_points")
        assert rows == [{"name": "up", "region": "eu-1", "service": "api", "value": 1.0}]
        with urllib.request.urlopen(f"http://{d.http}/metrics", timeout=10) as r:
            text = r.read().decode()
        assert 'cutover_ingest_requests_total{outcome="invalid",receiver="prometheus_remote_write"} 3' in text
        assert 'cutover_ingest_requests_total{outcome="unsupported_media_type",receiver="prometheus_remote_write"} 2' in text
        assert 'cutover_ingest_requests_total{outcome="too_large",receiver="prometheus_remote_write"} 1' in text
    finally:
        d.stop()


def test_alertmanager_bad_input(daemon):
    ok = {"version": "4", "status": "firing", "receiver": "cutover", "groupLabels": {}, "commonLabels": {},
          "alerts": [{"status": "firing", "labels": {"alertname": "A", "region": "us-west-2"},
                      "startsAt": "2026-11-26T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z", "fingerprint": "f1"}]}
    h = {"Content-Type": "application/json"}
    assert post(daemon, "/v1/alertmanager", b"{oops", h)[0] == 400
    status, msg = post(daemon, "/v1/alertmanager", json.dumps({**ok, "version": "3"}).encode(), h)
    assert status == 400 and "version" in msg
    bad_time = json.loads(json.dumps(ok))
    bad_time["alerts"][0]["startsAt"] = "yesterday"
    status, msg = post(daemon, "/v1/alertmanager", json.dumps(bad_time).encode(), h)
    assert status == 400 and "RFC 3339" in msg
    status, msg = post(daemon, "/v1/alertmanager", json.dumps(ok).encode(), h)
    assert status == 200 and json.loads(msg) == {"stored_alerts": 1}
    rows = query(daemon.data_dir, "SELECT alertname, status, region, ends_at FROM alerts")
    assert rows == [{"alertname": "A", "status": "firing", "region": "us-west-2"}]
