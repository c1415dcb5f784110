"""The real OpenTelemetry Python SDK sends spans, metrics and logs to cutover over gRPC,
HTTP/protobuf and HTTP/JSON; `cutover query` finds each with the right region, service, ids."""

import json
import urllib.request

from google.protobuf.json_format import MessageToDict
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogExporter
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetricExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from conftest import query


def tracer(exporter, service, region=None):
    attrs = {"service.name": service}
    if region:
        attrs["cloud.region"] = region
    provider = TracerProvider(resource=Resource.create(attrs))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


def send_spans(provider, name):
    t = provider.get_tracer("cutover-tests")
    with t.start_as_current_span(name, kind=SpanKind.SERVER) as parent:
        parent.set_attribute("http.response.status_code", 200)
        with t.start_as_current_span(name + " child", kind=SpanKind.CLIENT) as child:
            child.set_attribute("cutover.write.store", "orders-db")
            child.set_attribute("cutover.write.seq", 42)
            ids = (parent.get_span_context(), child.get_span_context())
    provider.force_flush()
    provider.shutdown()
    return ids


def hexid(n, width):
    return format(n, f"0{width}x")


def check_spans(data_dir, name, ids, service, region):
    parent, child = ids
    rows = query(data_dir, f"SELECT trace_id, span_id, parent_span_id, service, region, kind, "
                           f"attributes['cutover.write.seq'] AS seq FROM spans "
                           f"WHERE name LIKE '{name}%' ORDER BY kind DESC")
    assert len(rows) == 2, rows
    server, client = rows
    assert server["kind"] == "server" and client["kind"] == "client"
    assert server["trace_id"] == hexid(parent.trace_id, 32)
    assert server["span_id"] == hexid(parent.span_id, 16)
    assert client["parent_span_id"] == hexid(parent.span_id, 16)
    assert client["span_id"] == hexid(child.span_id, 16)
    assert client["seq"] == "42"
    for r in rows:
        assert r["service"] == service
        assert r["region"] == region


def test_spans_over_grpc(daemon):
    ids = send_spans(tracer(GrpcSpanExporter(endpoint=f"http://{daemon.grpc}", insecure=True), "checkout", "us-east-1"), "grpc-op")
    check_spans(daemon.data_dir, "grpc-op", ids, "checkout", "us-east-1")


def test_spans_over_grpc_and_http_with_gzip(daemon):
    from opentelemetry.exporter.otlp.proto.grpc.exporter import Compression
    grpc_exporter = GrpcSpanExporter(endpoint=f"http://{daemon.grpc}", insecure=True, compression=Compression.Gzip)
    ids = send_spans(tracer(grpc_exporter, "gz-grpc", "ap-south-1"), "gzgrpc-op")
    check_spans(daemon.data_dir, "gzgrpc-op", ids, "gz-grpc", "ap-south-1")
    from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression
    http_exporter = HttpSpanExporter(endpoint=f"http://{daemon.http}/v1/traces", compression=HttpCompression.Gzip)
    ids = send_spans(tracer(http_exporter, "gz-http", "ap-south-1"), "gzhttp-op")
    check_spans(daemon.data_dir, "gzhttp-op", ids, "gz-http", "ap-south-1")


def test_spans_over_http_protobuf_take_the_default_region(daemon):
    exporter = HttpSpanExporter(endpoint=f"http://{daemon.http}/v1/traces")
    ids = send_spans(tracer(exporter, "payments"), "http-op")
    check_spans(daemon.data_dir, "http-op", ids, "payments", "default-region")


def test_spans_over_http_json(daemon):
    # The SDK builds and encodes the spans; OTLP/JSON wants hex ids and integer enums.
    mem = InMemorySpanExporter()
    ids = send_spans(tracer(mem, "search", "eu-west-1"), "json-op")
    body = MessageToDict(encode_spans(mem.get_finished_spans()), use_integers_for_enums=True)
    for rs in body["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for s in ss["spans"]:
                for k in ("traceId", "spanId", "parentSpanId"):
                    if k in s:
                        import base64
                        s[k] = base64.b64decode(s[k]).hex()
    req = urllib.request.Request(f"http://{daemon.http}/v1/traces", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "application/json"
        assert json.loads(resp.read()).get("partialSuccess") in (None, {})
    check_spans(daemon.data_dir, "json-op", ids, "search", "eu-west-1")


def send_metrics(exporter, service, region):
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    provider = MeterProvider(resource=Resource.create({"service.name": service, "cloud.region": region}),
                             metric_readers=[reader])
    meter = provider.get_meter("cutover-tests")
    meter.create_counter("orders_total").add(5, {"route": "/checkout"})
    meter.create_histogram("latency_ms").record(12.5)
    provider.force_flush()
    provider.shutdown()


def test_metrics_over_grpc_and_http(daemon):
    send_metrics(GrpcMetricExporter(endpoint=f"http://{daemon.grpc}", insecure=True), "m-grpc", "us-east-1")
    send_metrics(HttpMetricExporter(endpoint=f"http://{daemon.http}/v1/metrics"), "m-http", "us-west-2")
    rows = query(daemon.data_dir, "SELECT service, region, name, metric_type, value, count, "
                                  "attributes['route'] AS route FROM metric_points ORDER BY service, name")
    got = {(r["service"], r["name"]): r for r in rows}
    for service, region in (("m-grpc", "us-east-1"), ("m-http", "us-west-2")):
        c = got[(service, "orders_total")]
        assert (c["region"], c["metric_type"], c["value"], c["route"]) == (region, "sum", 5.0, "/checkout")
        h = got[(service, "latency_ms")]
        assert (h["region"], h["metric_type"], h["value"], h["count"]) == (region, "histogram", 12.5, 1)


def test_metric_details_exemplars_instances_and_trace_state_are_kept(daemon):
    """Histogram buckets, min/max, exponential buckets, temporality, start time, exemplars (with
    the span they link to), service.instance.id and host.name, and a span's tracestate, as the
    real SDK sends them."""
    from opentelemetry.sdk.metrics import Counter
    from opentelemetry.sdk.metrics.export import AggregationTemporality
    from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, TraceState, set_span_in_context

    res = Resource.create({"service.name": "kept", "cloud.region": "us-east-1",
                           "service.instance.id": "pod-a", "host.name": "node-1"})
    tp = tracer(GrpcSpanExporter(endpoint=f"http://{daemon.grpc}", insecure=True), "kept", "us-east-1")
    exporter = GrpcMetricExporter(endpoint=f"http://{daemon.grpc}", insecure=True,
                                  preferred_temporality={Counter: AggregationTemporality.DELTA})
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    provider = MeterProvider(resource=res, metric_readers=[reader],
                             views=[View(instrument_name="exp_latency_ms", aggregation=ExponentialBucketHistogramAggregation())])
    meter = provider.get_meter("cutover-tests")
    hist = meter.create_histogram("latency_ms")
    t = tp.get_tracer("cutover-tests")
    # A measurement inside a sampled span gets an exemplar (the SDK's trace-based filter).
    with t.start_as_current_span("exemplar-op", kind=SpanKind.SERVER) as span:
        hist.record(12.5)
        sc = span.get_span_context()
    hist.record(250.0)
    meter.create_histogram("exp_latency_ms").record(3.0)
    meter.create_counter("delta_total").add(7)
    # A span whose parent carries an OpenTelemetry sampling threshold in its tracestate.
    parent = SpanContext(trace_id=0x5B8EFFF798038103D269B633813FC60C, span_id=0xEEE19B7EC3C1B174, is_remote=True,
                         trace_flags=TraceFlags(TraceFlags.SAMPLED), trace_state=TraceState([("ot", "th:8")]))
    with t.start_as_current_span("sampled-op", context=set_span_in_context(NonRecordingSpan(parent))):
        pass
    provider.force_flush()
    provider.shutdown()
    tp.force_flush()
    tp.shutdown()

    rows = query(daemon.data_dir, "SELECT name, metric_type, temporality, bucket_bounds, bucket_counts, min, max, "
                                  "exponential, instance, resource_attributes['host.name'] AS host, "
                                  "CAST(start_time AS BIGINT) AS start, CAST(time AS BIGINT) AS t "
                                  "FROM metric_points WHERE service = 'kept'")
    got = {r["name"]: r for r in rows}
    h = got["latency_ms"]
    assert (h["metric_type"], h["temporality"], h["min"], h["max"]) == ("histogram", "cumulative", 12.5, 250.0)
    bounds = [0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2500.0, 5000.0, 7500.0, 10000.0]
    assert h["bucket_bounds"] == bounds
    counts = [0] * (len(bounds) + 1)
    counts[3] = counts[7] = 1  # (10, 25] and (100, 250]
    assert h["bucket_counts"] == counts
    e = got["exp_latency_ms"]
    assert e["metric_type"] == "exponential_histogram" and "bucket_bounds" not in e
    exp = json.loads(e["exponential"])
    assert sum(exp["positive"]["counts"]) == 1 and exp["zero_count"] == 0 and isinstance(exp["scale"], int)
    d = got["delta_total"]
    assert (d["metric_type"], d["temporality"]) == ("sum", "delta")
    for r in rows:
        assert (r["instance"], r["host"]) == ("pod-a", "node-1"), r
        assert 0 < r["start"] <= r["t"], r
    # The exemplar links the histogram to the span it was recorded in (the SQL of
    # docs/receivers.md).
    linked = query(daemon.data_dir, "SELECT p.x['value'] AS measured, p.x['trace_id'] AS trace_id, s.name "
                                    "FROM (SELECT unnest(exemplars) AS x FROM metric_points "
                                    "WHERE exemplars IS NOT NULL AND service = 'kept') p "
                                    "JOIN spans s ON s.trace_id = p.x['trace_id'] AND s.span_id = p.x['span_id']")
    assert linked == [{"measured": 12.5, "trace_id": hexid(sc.trace_id, 32), "name": "exemplar-op"}]
    ts = query(daemon.data_dir, "SELECT trace_state FROM spans WHERE name = 'sampled-op'")
    assert ts == [{"trace_state": "ot=th:8"}]


def send_logs(exporter, service, region):
    import logging
    from opentelemetry.sdk._logs import LoggingHandler
    provider = LoggerProvider(resource=Resource.create({"service.name": service, "cloud.region": region}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = logging.getLogger(f"cutover-test-{service}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    handler = LoggingHandler(logger_provider=provider)
    logger.addHandler(handler)
    logger.warning("replica lag high", extra={"lag_ms": 1500})
    logger.info("fault injected", extra={"cutover.marker": "fault_injected", "drill": "t1"})
    provider.force_flush()
    logger.removeHandler(handler)
    provider.shutdown()


def test_logs_and_markers_over_grpc_and_http(daemon):
    send_logs(GrpcLogExporter(endpoint=f"http://{daemon.grpc}", insecure=True), "l-grpc", "us-east-1")
    send_logs(HttpLogExporter(endpoint=f"http://{daemon.http}/v1/logs"), "l-http", "us-west-2")
    logs = query(daemon.data_dir, "SELECT service, region, body, severity_text, attributes['lag_ms'] AS lag "
                                  "FROM logs ORDER BY service")
    assert [(r["service"], r["region"], r["body"], r["severity_text"], r["lag"]) for r in logs] == [
        ("l-grpc", "us-east-1", "replica lag high", "WARN", "1500"),
        ("l-http", "us-west-2", "replica lag high", "WARN", "1500"),
    ]
    markers = query(daemon.data_dir, "SELECT service, region, marker, attributes['drill'] AS drill "
                                     "FROM markers ORDER BY service")
    assert [(r["service"], r["region"], r["marker"], r["drill"]) for r in markers] == [
        ("l-grpc", "us-east-1", "fault_injected", "t1"),
        ("l-http", "us-west-2", "fault_injected", "t1"),
    ]
