"""Bad input gets the right status and a message, is counted, and the daemon keeps serving."""

import gzip
import json
import urllib.error
import urllib.request

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.trace.v1 import trace_pb2

from conftest import Daemon, query


def post(daemon, path, body, ctype, encoding=None):
    headers = {"Content-Type": ctype}
    if encoding:
        headers["Content-Encoding"] = encoding
    req = urllib.request.Request(f"http://{daemon.http}{path}", data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def valid_request(name="ok-span", trace_byte=1):
    span = trace_pb2.Span(trace_id=bytes([trace_byte]) * 16, span_id=b"\x02" * 8, name=name,
                          start_time_unix_nano=1_700_000_000_000_000_000,
                          end_time_unix_nano=1_700_000_000_100_000_000)
    return trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[trace_pb2.ResourceSpans(scope_spans=[trace_pb2.ScopeSpans(spans=[span])])])


def assert_still_serving(daemon, name):
    status, _, _ = post(daemon, "/v1/traces", valid_request(name).SerializeToString(), "application/x-protobuf")
    assert status == 200
    assert daemon.alive()


def metric(daemon, outcome):
    with urllib.request.urlopen(f"http://{daemon.http}/metrics", timeout=10) as r:
        text = r.read().decode()
    for line in text.splitlines():
        if line.startswith("cutover_ingest_requests_total") and f'outcome="{outcome}"' in line and 'receiver="otlp_http"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_garbage_protobuf_is_400_with_message(daemon):
    status, headers, body = post(daemon, "/v1/traces", b"\xff\xff\xff\xff garbage", "application/x-protobuf")
    assert status == 400
    assert b"invalid protobuf body" in body
    assert metric(daemon, "invalid") == 1
    assert_still_serving(daemon, "after-garbage")


def test_invalid_json_is_400_with_json_status(daemon):
    status, headers, body = post(daemon, "/v1/logs", b'{"resourceLogs": [', "application/json")
    assert status == 400
    assert headers["Content-Type"] == "application/json"
    err = json.loads(body)
    assert err["code"] == 3 and "invalid OTLP/JSON body" in err["message"]
    assert_still_serving(daemon, "after-json")


def test_wrong_content_type_is_415(daemon):
    status, _, body = post(daemon, "/v1/traces", b"hello", "text/plain")
    assert status == 415
    assert b"unsupported content type" in body
    assert_still_serving(daemon, "after-415")


def test_oversized_bodies_are_413_plain_and_gzip(tmp_path):
    d = Daemon(str(tmp_path), extra=["--max-body-bytes", "4096"])
    try:
        big = valid_request("x" * 10_000).SerializeToString()
        status, _, body = post(d, "/v1/traces", big, "application/x-protobuf")
        assert status == 413 and b"exceeds the limit of 4096 bytes" in body
        # Small on the wire, too big once decompressed.
        status, _, _ = post(d, "/v1/traces", gzip.compress(big), "application/x-protobuf", "gzip")
        assert status == 413
        status, _, _ = post(d, "/v1/traces", b"not gzip", "application/x-protobuf", "gzip")
        assert status == 400
        assert_still_serving(d, "after-413")
        assert query(str(tmp_path), "SELECT name FROM spans") == [{"name": "after-413"}]
    finally:
        d.stop()


def test_gzip_protobuf_is_accepted(daemon):
    status, _, _ = post(daemon, "/v1/traces", gzip.compress(valid_request("gz").SerializeToString()),
                        "application/x-protobuf", "gzip")
    assert status == 200
    assert query(daemon.data_dir, "SELECT name FROM spans") == [{"name": "gz"}]


def test_partial_success_counts_rejected_spans(daemon):
    req = valid_request("good")
    req.resource_spans[0].scope_spans[0].spans.append(trace_pb2.Span(trace_id=b"\x00" * 16, span_id=b"\x01" * 8, name="bad"))
    status, _, body = post(daemon, "/v1/traces", req.SerializeToString(), "application/x-protobuf")
    assert status == 200
    resp = trace_service_pb2.ExportTraceServiceResponse.FromString(body)
    assert resp.partial_success.rejected_spans == 1
    assert "trace_id" in resp.partial_success.error_message
    assert query(daemon.data_dir, "SELECT name FROM spans") == [{"name": "good"}]


def test_grpc_partial_success_and_recovery_after_garbage(daemon):
    channel = grpc.insecure_channel(daemon.grpc)
    stub = trace_service_pb2_grpc.TraceServiceStub(channel)
    req = valid_request("grpc-good", trace_byte=3)
    req.resource_spans[0].scope_spans[0].spans.append(trace_pb2.Span(trace_id=b"\x03" * 16, span_id=b"\x01" * 3, name="short-id"))
    resp = stub.Export(req, timeout=10)
    assert resp.partial_success.rejected_spans == 1
    # Garbage bytes on the gRPC method: an error status, and the daemon keeps serving.
    raw = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export",
                              request_serializer=lambda b: b, response_deserializer=lambda b: b)
    try:
        raw(b"\xff\xff\xff\xff", timeout=10)
        raise AssertionError("garbage was accepted")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, e
        assert "decode" in e.details()
    assert stub.Export(valid_request("grpc-after", trace_byte=4), timeout=10).partial_success.rejected_spans == 0
    names = sorted(r["name"] for r in query(daemon.data_dir, "SELECT name FROM spans"))
    assert names == ["grpc-after", "grpc-good"]
    channel.close()
