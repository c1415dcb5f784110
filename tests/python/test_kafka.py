"""The Kafka log against a real Kafka-protocol broker (tansu 0.6.0, which the test script
installs): a drill sent by the OpenTelemetry SDK through `cutover ingest --log kafka://…` gives
the report the embedded log gives for the same drill, read directly (`analyze --from`) and
from an archive (`archive`, then `verify` and `analyze`)."""

import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.request

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

from conftest import BIN, Daemon, query, wait_until

TANSU = os.environ.get("CUTOVER_TANSU", "tansu")
S = 1_000_000_000
T0 = 1_795_000_000 * S  # 2026-11-17, a fixed drill start
DRILL = """name: kafka-drill
regions: { primary: us-east-1, secondary: us-west-2 }
targets: { rto_seconds: 60, rpo_seconds: 5 }
sli: { services: [frontend] }
recovery: { success_ratio: 0.9, stable_seconds: 10 }
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Tansu:
    """tansu on 127.0.0.1:PORT with its in-memory engine; `stop` and `start` again on the same
    port (the memory engine starts empty)."""

    def __init__(self, port=None):
        self.port = port or free_port()
        self.err = tempfile.TemporaryFile()
        self.proc = None
        self.start()

    def start(self):
        url = f"tcp://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([TANSU, "broker", "--listener-url", url, "--advertised-listener-url", url,
                                      "--storage-engine", "memory://tansu/"], stdout=self.err, stderr=self.err)

        def listening():
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", self.port)) == 0
        wait_until(listening, timeout=30, what="tansu to listen")

    def stop(self):
        self.proc.kill()
        self.proc.wait(timeout=20)

    def address(self):
        return f"127.0.0.1:{self.port}"

    def close(self):
        if self.proc.poll() is None:
            self.stop()
        self.err.seek(0)
        print(self.err.read().decode(errors="replace")[-3000:])


@pytest.fixture(scope="module")
def broker():
    t = Tansu()
    try:
        yield t.address()
    finally:
        t.close()


def send_drill(daemon, west=None):
    """Requests of `frontend` every 500 ms for 60 s: us-east-1 serves until the fault at 20 s and
    fails after it, us-west-2 serves (after a cutover at 35 s) from 36 s; markers through the
    markers API; a write per request, with the replica promoted at seq 30. With `west`, what
    us-west-2 emits goes to that daemon (one daemon per region)."""
    by_region = {"us-east-1": daemon, "us-west-2": west or daemon}
    providers = {}
    for region in ("us-east-1", "us-west-2"):
        p = TracerProvider(resource=Resource.create({"service.name": "frontend", "cloud.region": region}))
        p.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=by_region[region].grpc, insecure=True)))
        providers[region] = p
    seq = 0
    for i in range(120):
        start = T0 + i * S // 2
        if start < T0 + 36 * S:
            region, ok = "us-east-1", start < T0 + 20 * S
        else:
            region, ok = "us-west-2", True
        t = providers[region].get_tracer("cutover-tests")
        span = t.start_span("GET /checkout", kind=SpanKind.SERVER, start_time=start)
        span.set_attribute("http.response.status_code", 200 if ok else 503)
        if ok:
            seq += 1
            span.set_attribute("cutover.write.store", "orders")
            span.set_attribute("cutover.write.seq", seq)
        else:
            span.set_status(Status(StatusCode.ERROR))
        span.end(end_time=start + 40_000_000)
    for p in providers.values():
        p.force_flush()
        p.shutdown()
    marks = [("fault_injected", "us-east-1", 20, {}), ("failover_declared", "us-west-2", 25, {}),
             ("db_promoted", "us-west-2", 30, {"cutover.write.store": "orders", "cutover.write.last_applied_seq": "30"}),
             ("dns_cutover", "us-west-2", 35, {})]
    for kind, region, s, attrs in marks:
        at = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime((T0 + s * S) // S)) + "Z"
        args = [BIN, "mark", kind, "--region", region, "--at", at, "--endpoint", f"http://{by_region[region].http}"]
        for k, v in attrs.items():
            args += ["--attr", f"{k}={v}"]
        out = subprocess.run(args, capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr


def analyze(*source, drill):
    out = subprocess.run([BIN, "analyze", *source, "--drill", drill, "--format", "json", "--no-cache"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode in (0, 1), out.stderr
    return json.loads(out.stdout)


def comparable(report):
    """The report without what depends on the copy rather than the drill: the log's hash chain
    (records of two partitions interleave differently in each copy) and the ingest lag (the two
    daemons received each request a few ms apart)."""
    r = json.loads(json.dumps(report))
    for log in (r["replay"]["log"], r["validity"]["log"]):
        log.pop("head", None)
        log.pop("segments", None)
    for p in r["validity"]["pipeline"]:
        for k in list(p):
            if k.startswith("lag_") or k == "lagging":
                p.pop(k)
    return r


def test_a_drill_through_kafka_reports_as_through_the_embedded_log(broker, tmp_path):
    topic = f"drill-{os.getpid()}"
    url = f"kafka://{broker}?topic={topic}&partitions=2"
    drill = tmp_path / "drill.yaml"
    drill.write_text(DRILL)
    local = Daemon(str(tmp_path / "local"), region="us-east-1")
    kafka = Daemon(str(tmp_path / "kafka"), region="us-east-1", extra=("--log", url))
    try:
        assert not (tmp_path / "kafka" / "log").exists(), "the Kafka daemon wrote an embedded log"
        send_drill(local)
        send_drill(kafka)
        metrics = urllib.request.urlopen(f"http://{kafka.http}/metrics", timeout=10).read().decode()
        assert "cutover_kafka_in_flight_records 0" in metrics, metrics
        health = urllib.request.urlopen(f"http://{kafka.http}/healthz", timeout=10)
        assert health.status == 200
    finally:
        local.stop()
        kafka.stop()

    embedded = analyze("--data-dir", str(tmp_path / "local"), drill=str(drill))
    # The drill measures what it was built to: the fault at 20 s, recovery at 36 s (the first
    # good request in us-west-2), 120 requests, writes 31..40 lost (seq 31 at 15.5 s to seq 40 at
    # 19.5 s after the newest surviving write, seq 30 at 14.5 s).
    assert embedded["rto"]["actual_seconds"] == 16.0, embedded["rto"]
    assert embedded["rto"]["requests"] == 120
    assert embedded["rpo"]["lost"] == {"orders": list(range(31, 41))}, embedded["rpo"]
    assert embedded["rpo"]["actual_seconds"] == 5.0
    assert embedded["replay"]["records"] == 124

    from_kafka = analyze("--from", url, drill=str(drill))
    assert comparable(from_kafka) == comparable(embedded)

    archive = tmp_path / "archive"
    out = subprocess.run([BIN, "archive", "--from", url, "--data-dir", str(archive)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("archived 124 records from 2 partitions"), out.stdout
    out = subprocess.run([BIN, "verify", "--data-dir", str(archive)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    archived = analyze("--data-dir", str(archive), drill=str(drill))
    assert archived == from_kafka
    # An archive never overwrites a log.
    out = subprocess.run([BIN, "archive", "--from", url, "--data-dir", str(archive)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and "exists" in out.stderr, out.stderr


def test_records_follow_the_documented_format(broker, tmp_path):
    """One record read with a plain Kafka client (confluent-kafka, not cutover): headers as
    documented, key = region, value = the event envelope."""
    from confluent_kafka import Consumer, TopicPartition
    topic = f"format-{os.getpid()}"
    url = f"kafka://{broker}?topic={topic}&partitions=1"
    d = Daemon(str(tmp_path / "k"), region="us-east-1", extra=("--log", url))
    try:
        out = subprocess.run([BIN, "mark", "fault_injected", "--region", "us-east-1", "--endpoint", f"http://{d.http}"],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
    finally:
        d.stop()
    c = Consumer({"bootstrap.servers": broker, "group.id": "format-test", "enable.auto.commit": False})
    c.assign([TopicPartition(topic, 0, 0)])
    msg = None
    deadline = time.time() + 30
    while msg is None and time.time() < deadline:
        m = c.poll(1.0)
        if m is not None and m.error() is None:
            msg = m
    c.close()
    assert msg is not None, "no record read back"
    assert msg.key() == b"us-east-1"
    headers = {k: v.decode() for k, v in msg.headers()}
    assert headers == {"cutover.kind": "marker", "cutover.region": "us-east-1", "cutover.schema": "1",
                       "cutover.format": "1"}, headers
    # The value is the envelope: field 3 (region) is the length-delimited string us-east-1.
    assert b"\x1a\x09us-east-1" in msg.value()


def post_marker(daemon, kind):
    req = urllib.request.Request(f"http://{daemon.http}/v1/markers", method="POST",
                                 data=json.dumps({"kind": kind}).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}


def test_a_broker_outage_is_refused_with_a_retry_hint_and_ingest_resumes_by_itself(tmp_path):
    """The broker is killed: a request is refused with 503 and Retry-After once its delivery
    timeout (2 s here) passes, while /healthz and /metrics keep answering; the broker comes back
    (empty: the memory engine; the topic is created again as a cluster would keep it) and the
    same daemon accepts again without a restart."""
    t = Tansu()
    url = f"kafka://{t.address()}?topic=outage&partitions=1&delivery_timeout_ms=2000"
    d = Daemon(str(tmp_path / "k"), region="us-east-1", extra=("--log", url))
    try:
        assert post_marker(d, "drill_started")[0] == 200
        t.stop()
        started = time.time()
        status, headers = post_marker(d, "fault_injected")
        assert status == 503, (status, d.stderr_text()[-2000:])
        assert headers.get("retry-after") == "30", headers
        assert time.time() - started < 30
        assert urllib.request.urlopen(f"http://{d.http}/healthz", timeout=10).status == 200
        metrics = urllib.request.urlopen(f"http://{d.http}/metrics", timeout=10).read().decode()
        assert 'outcome="unavailable"' in metrics, metrics
        t.start()
        # The memory engine came back empty; an operator's cluster keeps its topics, so the
        # topic is put back as a cluster would have it (cutover does not re-create a topic
        # that vanished: that would hide a loss).
        from confluent_kafka.admin import AdminClient, NewTopic
        admin = AdminClient({"bootstrap.servers": t.address()})
        for f in admin.create_topics([NewTopic("outage", num_partitions=1, replication_factor=1)]).values():
            f.result(timeout=30)
        accepted = []

        def accepts():
            accepted.append(post_marker(d, "dns_cutover")[0])
            return accepted[-1] == 200
        wait_until(accepts, timeout=60, what="ingest to accept again after the broker returned")
        d.stop()
        # Every marker acknowledged after the restart is on the topic (the memory engine
        # started empty, so what was acknowledged before it is the broker's loss, not cutover's).
        out = subprocess.run([BIN, "archive", "--from", url, "--data-dir", str(tmp_path / "a")],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        rows = query(str(tmp_path / "a"), "SELECT marker, count(*) AS n FROM markers GROUP BY marker")
        got = {r["marker"]: r["n"] for r in rows}
        assert got.get("dns_cutover", 0) >= accepted.count(200) >= 1, (got, accepted)
    finally:
        d.stop()
        t.close()


def newer_librdkafka(tmp_path):
    """A directory holding `librdkafka.so.1` from the confluent-kafka wheel: Debian's kcat links
    a librdkafka too old for tansu's version negotiation, and runs with this one instead."""
    import glob
    import confluent_kafka
    libs = glob.glob(os.path.join(os.path.dirname(confluent_kafka.__file__), "..", "confluent_kafka.libs",
                                  "librdkafka*.so.1"))
    assert libs, "the confluent-kafka wheel ships no librdkafka"
    d = tmp_path / "librdkafka"
    d.mkdir()
    os.symlink(os.path.realpath(libs[0]), d / "librdkafka.so.1")
    return str(d)


def test_kcat_reads_a_record_as_documented(broker, tmp_path):
    topic = f"kcat-{os.getpid()}"
    url = f"kafka://{broker}?topic={topic}&partitions=1"
    d = Daemon(str(tmp_path / "k"), region="us-west-2", extra=("--log", url))
    try:
        out = subprocess.run([BIN, "mark", "dns_cutover", "--region", "us-west-2", "--endpoint", f"http://{d.http}"],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
    finally:
        d.stop()
    env = {**os.environ, "LD_LIBRARY_PATH": newer_librdkafka(tmp_path)}
    out = subprocess.run(["kcat", "-C", "-b", broker, "-t", topic, "-e", "-q", "-f", "%k|%h|%S\n"],
                         capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    key, headers, size = out.stdout.strip().split("|")
    assert key == "us-west-2"
    assert dict(h.split("=", 1) for h in headers.split(",")) == {
        "cutover.kind": "marker", "cutover.region": "us-west-2", "cutover.schema": "1", "cutover.format": "1"}
    value = subprocess.run(["kcat", "-C", "-b", broker, "-t", topic, "-e", "-q", "-f", "%s"],
                           capture_output=True, timeout=60, env=env).stdout
    assert len(value) == int(size)
    # The envelope: field 1 (schema_version) = 1, field 2 (kind) = 4 (marker), field 3 (region).
    assert value.startswith(b"\x08\x01\x10\x04\x1a\x09us-west-2"), value[:20]


def test_two_regions_two_daemons_one_cluster(broker, tmp_path):
    """One daemon per region, both writing to one topic: the analyzer sees both regions and
    measures the drill as one daemon's log would; each daemon reports its lag behind the
    cluster (records in flight) on /metrics."""
    url = f"kafka://{broker}?topic=two-regions-{os.getpid()}&partitions=2"
    drill = tmp_path / "drill.yaml"
    drill.write_text(DRILL)
    east = Daemon(str(tmp_path / "east"), region="us-east-1", extra=("--log", url))
    west = Daemon(str(tmp_path / "west"), region="us-west-2", extra=("--log", url))
    try:
        send_drill(east, west)
        for d in (east, west):
            metrics = urllib.request.urlopen(f"http://{d.http}/metrics", timeout=10).read().decode()
            assert "cutover_kafka_in_flight_records 0" in metrics, metrics
    finally:
        east.stop()
        west.stop()
    report = analyze("--from", url, drill=str(drill))
    assert report["rto"]["actual_seconds"] == 16.0, report["rto"]
    assert report["rto"]["requests"] == 120
    assert report["rpo"]["lost"] == {"orders": list(range(31, 41))}, report["rpo"]
    assert sorted(p["region"] for p in report["validity"]["pipeline"]) == ["us-east-1", "us-west-2"]
    assert report["replay"]["records"] == 124


class S3Tansu(Tansu):
    """tansu on its s3 engine against a local moto S3 server: it keeps what it stored across a
    `kill -9`."""

    def __init__(self, s3_endpoint):
        self.env = {**os.environ, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                    "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
                    "AWS_ENDPOINT": s3_endpoint, "AWS_ALLOW_HTTP": "true"}
        super().__init__()

    def start(self):
        url = f"tcp://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([TANSU, "broker", "--listener-url", url, "--advertised-listener-url", url,
                                      "--storage-engine", "s3://tansu/"], stdout=self.err, stderr=self.err,
                                     env=self.env)

        def listening():
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", self.port)) == 0
        wait_until(listening, timeout=30, what="tansu to listen")


@pytest.fixture
def s3():
    port = free_port()
    proc = subprocess.Popen([os.path.join(os.path.dirname(os.path.realpath(__import__("sys").executable)), "moto_server"),
                             "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        import boto3

        def bucket():
            try:
                boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="test", aws_secret_access_key="test",
                             region_name="us-east-1").create_bucket(Bucket="tansu")
                return True
            except Exception:
                return False
        wait_until(bucket, timeout=30, what="moto's S3 to take a bucket")
        yield endpoint
    finally:
        proc.kill()
        proc.wait()


def read_values(broker, topic, partitions):
    """Every record value of `topic`, read by a plain client (not cutover)."""
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": broker, "group.id": f"read-{topic}", "enable.auto.commit": False,
                  "enable.partition.eof": True})
    c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    values, ends, deadline = [], set(), time.time() + 60
    while len(ends) < partitions and time.time() < deadline:
        m = c.poll(1.0)
        if m is None:
            continue
        if m.error():
            if m.error().code() == -191:  # end of partition
                ends.add(m.partition())
            continue
        values.append(m.value())
    c.close()
    assert len(ends) == partitions, "did not read to the end of every partition"
    return values


def test_a_broker_killed_mid_load_loses_nothing_cutover_acknowledged(s3, tmp_path):
    """Markers are posted by 4 clients while the broker (s3 engine) is killed with SIGKILL and
    restarted 2 s later. Every marker answered 200 is on the topic afterwards; any other answer
    is a retryable refusal (503 or 429 with Retry-After). A second producer (confluent-kafka, not
    cutover) writes its own numbered records to another topic through the same kill: if the
    broker loses acknowledged records, it loses that producer's too, which tells a loss of the
    broker from one of cutover."""
    import threading
    from confluent_kafka import Producer as KProducer
    from confluent_kafka.admin import AdminClient, NewTopic
    t = S3Tansu(s3)
    url = f"kafka://{t.address()}?topic=kill&partitions=2&delivery_timeout_ms=5000"
    d = Daemon(str(tmp_path / "k"), region="us-east-1", extra=("--log", url))
    admin = AdminClient({"bootstrap.servers": t.address()})
    admin.create_topics([NewTopic("sentinel", num_partitions=1, replication_factor=1)])["sentinel"].result(timeout=30)
    answers, lock, stop = {}, threading.Lock(), threading.Event()

    def client(k):
        n = k
        while not stop.is_set():
            req = urllib.request.Request(f"http://{d.http}/v1/markers", method="POST",
                                         data=json.dumps({"kind": "drill_started",
                                                          "attributes": {"n": n}}).encode(),
                                         headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=60) as r:
                    answer = (r.status, None)
            except urllib.error.HTTPError as e:
                answer = (e.code, e.headers.get("Retry-After"))
            with lock:
                answers[n] = answer
            n += 4

    sentinel_acked = []
    sentinel = KProducer({"bootstrap.servers": t.address(), "acks": "all", "enable.idempotence": False,
                          "message.timeout.ms": 5000})

    def sentinel_load():
        i = 0
        while not stop.is_set():
            sentinel.produce("sentinel", value=str(i).encode(),
                             on_delivery=lambda e, m: e is None and sentinel_acked.append(int(m.value())))
            sentinel.poll(0)
            i += 1
            time.sleep(0.002)
        sentinel.flush(30)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(4)] + [threading.Thread(target=sentinel_load)]
    try:
        for th in threads:
            th.start()
        time.sleep(2)
        t.stop()  # SIGKILL
        time.sleep(2)
        t.start()
        time.sleep(3)
        stop.set()
        for th in threads:
            th.join(timeout=120)
        d.stop()
        acked = {n for n, (status, _) in answers.items() if status == 200}
        refused = {n: a for n, a in answers.items() if a[0] != 200}
        # A request whose records the producer delivered after the restart, within its delivery
        # timeout, is acknowledged late rather than refused; refusals are retryable.
        assert len(acked) > 50, (len(acked), len(refused))
        assert all(status in (429, 503) and retry for status, retry in refused.values()), refused
        # Records as a plain client reads them, and their markers as cutover decodes them.
        stored = read_values(t.address(), "kill", 2)
        out = subprocess.run([BIN, "archive", "--from", url, "--data-dir", str(tmp_path / "a")],
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        rows = query(str(tmp_path / "a"), "SELECT attributes['n'] AS n FROM markers")
        stored_n = {int(r["n"]) for r in rows}
        # Producer retries can store a record twice; the archive keeps each once.
        assert len(rows) == len(set(stored)) == len(stored_n), (len(rows), len(set(stored)), len(stored_n))
        lost = sorted(acked - stored_n)
        sentinel_lost = sorted(set(sentinel_acked) - {int(v) for v in read_values(t.address(), "sentinel", 1)})
        duplicates = len(stored) - len(set(stored))
        print(f"acked {len(acked)}, refused {len(refused)}, stored {len(rows)} ({duplicates} duplicates), "
              f"lost {len(lost)}; sentinel acked {len(sentinel_acked)}, lost {len(sentinel_lost)}")
        if lost and sentinel_lost:
            pytest.xfail(f"the broker lost acknowledged records, its own producer's too "
                         f"({len(sentinel_lost)}): cutover lost {lost[:10]}")
        assert not lost, f"cutover acknowledged markers the topic does not have: {lost[:20]}"
    finally:
        stop.set()
        t.close()


def test_readers_start_at_an_offset_or_a_time(broker, tmp_path):
    topic = f"range-{os.getpid()}"
    url = f"kafka://{broker}?topic={topic}&partitions=1"
    d = Daemon(str(tmp_path / "k"), region="us-east-1", extra=("--log", url))
    try:
        assert post_marker(d, "drill_started")[0] == 200
        time.sleep(1.5)
        between_ms = int(time.time() * 1000)
        time.sleep(0.5)
        assert post_marker(d, "fault_injected")[0] == 200
        assert post_marker(d, "dns_cutover")[0] == 200
    finally:
        d.stop()

    def archived(query_part, name):
        out = subprocess.run([BIN, "archive", "--from", f"{url}&{query_part}", "--data-dir", str(tmp_path / name)],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return sorted(r["marker"] for r in query(str(tmp_path / name), "SELECT marker FROM markers"))
    assert archived("start_offset=1", "by-offset") == ["dns_cutover", "fault_injected"]
    assert archived(f"start_time_ms={between_ms}", "by-time") == ["dns_cutover", "fault_injected"]
    assert archived("start_offset=3", "at-end") == []


def test_an_archive_that_cannot_reach_the_broker_fails_and_leaves_no_log(tmp_path):
    url = f"kafka://127.0.0.1:{free_port()}?topic=nowhere"
    out = subprocess.run([BIN, "archive", "--from", url, "--data-dir", str(tmp_path / "a"), "--idle-seconds", "3"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    assert "cannot read Kafka topic nowhere" in out.stderr, out.stderr
    assert not (tmp_path / "a" / "log").exists()


def test_a_full_in_flight_budget_is_refused_at_once_with_a_short_retry_hint(tmp_path):
    """With the broker gone and a budget of 2 records in flight, a request beyond it is refused
    at once as overload (the markers API, like remote_write and Alertmanager, answers overload
    503 with Retry-After 1; OTLP/HTTP answers 429) while earlier ones wait for their delivery
    timeout and are refused as unavailable (Retry-After 30)."""
    import threading
    t = Tansu()
    url = f"kafka://{t.address()}?topic=budget&partitions=1&delivery_timeout_ms=4000&max_in_flight=2"
    d = Daemon(str(tmp_path / "k"), region="us-east-1", extra=("--log", url))
    try:
        assert post_marker(d, "drill_started")[0] == 200
        t.stop()
        answers = []
        threads = [threading.Thread(target=lambda: answers.append(post_marker(d, "fault_injected")))
                   for _ in range(2)]
        for th in threads:
            th.start()
        time.sleep(0.5)
        started = time.time()
        status, headers = post_marker(d, "dns_cutover")
        assert (status, headers.get("retry-after")) == (503, "1"), (status, headers)
        assert time.time() - started < 2
        for th in threads:
            th.join(timeout=30)
        assert sorted((a[0], a[1].get("retry-after")) for a in answers) == [(503, "30"), (503, "30")], answers
    finally:
        d.stop()
        t.close()
