"""`cutover serve` over the PostgreSQL wire protocol with real clients: psql (simple query
protocol, as Grafana's pgx uses for panels) and psycopg 3 (extended protocol with
parameters); the report tables equal `cutover analyze`; refusals; password; limits; and a
live daemon whose section tables grow while spans are still being sent."""

import datetime
import json
import os
import subprocess
import time

import psycopg
import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind

from conftest import BIN, wait_until
from pgserve import Serve


def test_ping_is_an_empty_answer_and_tables_are_listed(served):
    # Grafana's health check and pgx's idle-connection check send this comment-only query.
    with psycopg.connect(served.conninfo()) as conn:
        res = conn.pgconn.exec_(b"-- ping")
        assert res.status == psycopg.pq.ExecStatus.EMPTY_QUERY
    out = served.psql("SELECT table_name FROM information_schema.tables "
                      "WHERE table_schema = 'public' ORDER BY 1").stdout.split()
    for t in ["spans", "metric_points", "logs", "markers", "alerts", "siem", "requests", "writes",
              "promotions", "span_links", "trace_stats", "stream_times", "stream_events", "messages",
              "report_drills", "report_rto", "report_rto_phases", "report_rpo_lost",
              "report_latency_windows", "report_gaps_gaps", "report_budget_slos_burn", "serve_status"]:
        assert t in out, (t, out)


def test_every_table_and_view_answers_over_the_wire(served):
    names = served.psql("SELECT table_name FROM information_schema.tables "
                        "WHERE table_schema = 'public' ORDER BY 1").stdout.split()
    assert len(names) >= 60, names
    with psycopg.connect(served.conninfo()) as conn:
        for name in names:
            cur = conn.execute(f"SELECT * FROM {name} LIMIT 3")
            cols = [d.name for d in cur.description]
            assert cols, name
            cur.fetchall()
            if name.startswith("report_"):
                assert cols[0] == "drill", (name, cols)


def test_attributes_come_as_json_text_and_keys_work_in_sql(served):
    with psycopg.connect(served.conninfo()) as conn:
        text, route = conn.execute(
            "SELECT attributes, attributes['http.route'] FROM spans "
            "WHERE attributes['http.route'] IS NOT NULL LIMIT 1").fetchone()
    assert json.loads(text)["http.route"] == route


def test_psql_sees_what_analyze_reports(served, demo_dir):
    r = subprocess.run([BIN, "analyze", "--data-dir", demo_dir, "--drill",
                        os.path.join(demo_dir, "drill.yaml"), "--format", "json"],
                       capture_output=True, text=True, timeout=300)
    report = json.loads(r.stdout)
    out = served.psql("SELECT actual_seconds, recovered_at FROM report_rto",
                      "SELECT count(*) FROM report_rpo_lost",
                      "SELECT name, seconds FROM report_rto_phases ORDER BY time",
                      "SELECT count(*) FROM spans").stdout.splitlines()
    seconds, recovered = out[0].split("|")
    assert float(seconds) == report["rto"]["actual_seconds"]
    # PostgreSQL's timestamptz has microseconds; the report has nanoseconds.
    want = datetime.datetime.fromisoformat(report["rto"]["recovered_at"][:26] + "+00:00")
    got = datetime.datetime.fromisoformat(recovered.replace(" ", "T") + ":00")
    assert abs((got - want).total_seconds()) < 1e-6, (got, want)
    assert int(out[1]) == report["rpo"]["lost_writes"] == 13
    phases = [line.split("|") for line in out[2:7]]
    assert [p[0] for p in phases] == [p["name"] for p in report["rto"]["phases"]]
    assert [float(p[1]) for p in phases] == [p["seconds"] for p in report["rto"]["phases"]]
    assert int(out[7]) == report["traces"]["spans"]


def test_extended_protocol_with_parameters(served):
    with psycopg.connect(served.conninfo()) as conn:
        total = conn.execute("SELECT count(*) FROM spans").fetchone()[0]
        east = conn.execute("SELECT count(*) FROM spans WHERE region = %s", ["us-east-1"]).fetchone()[0]
        west = conn.execute("SELECT count(*) FROM spans WHERE region = %s", ["us-west-2"]).fetchone()[0]
        assert east > 0 and west > 0 and east + west == total
        first, last = conn.execute("SELECT min(time), max(time) FROM markers").fetchone()
        assert isinstance(first, datetime.datetime) and first.tzinfo is not None
        later = conn.execute("SELECT count(*) FROM markers WHERE time > %s", [first]).fetchone()[0]
        n = conn.execute("SELECT count(*) FROM markers").fetchone()[0]
        assert later == n - 1
        rows = conn.execute("SELECT name, seconds FROM report_rto_phases WHERE seconds > %s ORDER BY seconds",
                            [10.0]).fetchall()
        assert rows and all(s > 10.0 for _, s in rows)
        top = conn.execute("SELECT seq FROM report_rpo_lost ORDER BY seq LIMIT %s", [2]).fetchall()
        assert len(top) == 2
        # Binary results (psycopg asks for them per cursor).
        with conn.cursor(binary=True) as cur:
            cur.execute("SELECT count(*)::bigint AS n, max(time) AS t FROM markers")
            bn, bt = cur.fetchone()
            assert bn == n and bt == last


@pytest.mark.parametrize("sql", [
    "CREATE TABLE x AS SELECT 1",
    "INSERT INTO markers SELECT * FROM markers",
    "DROP TABLE spans",
    "COPY (SELECT 1) TO '/tmp/cutover-copy-test.csv'",
    "SET datafusion.execution.batch_size = 1",
    "CREATE VIEW v AS SELECT 1",
])
def test_changes_are_refused_and_the_server_keeps_serving(served, sql):
    with psycopg.connect(served.conninfo(), autocommit=True) as conn:
        with pytest.raises(psycopg.Error) as e:
            conn.execute(sql)
        assert e.value.sqlstate == "25006", (e.value.sqlstate, str(e.value))
        assert "read only" in str(e.value)
        # Through the simple protocol too.
        res = conn.pgconn.exec_(sql.encode())
        assert res.status == psycopg.pq.ExecStatus.FATAL_ERROR
        assert res.error_field(psycopg.pq.DiagnosticField.SQLSTATE) == b"25006"
        assert conn.execute("SELECT count(*) FROM spans").fetchone()[0] > 0
    assert not os.path.exists("/tmp/cutover-copy-test.csv")


def test_session_statements_clients_send_are_accepted(served):
    with psycopg.connect(served.conninfo()) as conn:
        conn.execute("SET application_name = 'grafana'")
        assert conn.execute("SHOW server_version_num").fetchone()[0] == "160000"
        assert conn.execute("SELECT current_setting('server_version_num')::int / 100").fetchone()[0] == 1600
        assert conn.execute("SELECT version()").fetchone()[0].startswith("PostgreSQL 16")
        with pytest.raises(psycopg.Error) as e:
            conn.execute("SHOW no_such_setting")
        assert e.value.sqlstate == "42704"
    with psycopg.connect(served.conninfo()) as conn:
        # Transactions are accepted (every statement reads one snapshot).
        with conn.transaction():
            assert conn.execute("SELECT count(*) FROM markers").fetchone()[0] > 0


def test_parameter_numbers_are_bounded(served):
    with psycopg.connect(served.conninfo(), autocommit=True) as conn:
        assert conn.pgconn.prepare(b"huge", b"SELECT $4000000000 AS x").status == psycopg.pq.ExecStatus.COMMAND_OK
        # Describing it would allocate one slot per number up to $4000000000: refused.
        res = conn.pgconn.describe_prepared(b"huge")
        assert res.status == psycopg.pq.ExecStatus.FATAL_ERROR
        assert res.error_field(psycopg.pq.DiagnosticField.SQLSTATE) == b"54023"
        assert conn.execute("SELECT count(*) FROM report_drills").fetchone()[0] == 1


def test_errors_have_postgres_codes_and_one_message(served):
    with psycopg.connect(served.conninfo(), autocommit=True) as conn:
        with pytest.raises(psycopg.Error) as e:
            conn.execute("SELECT * FROM no_such_table")
        assert e.value.sqlstate == "42P01"
        assert str(e.value).count("no_such_table") == 1, str(e.value)
        with pytest.raises(psycopg.Error) as e:
            conn.execute("SELEC 1")
        assert e.value.sqlstate == "42601"


def test_password_is_required_when_set(demo_dir):
    s = Serve(demo_dir, env={"CUTOVER_PG_PASSWORD": "correct horse battery"})
    try:
        with psycopg.connect(s.conninfo(password="correct horse battery")) as conn:
            assert conn.execute("SELECT count(*) FROM report_drills").fetchone()[0] == 1
        for user, pw in [("cutover", "wrong password!"), ("someone", "correct horse battery")]:
            with pytest.raises(psycopg.OperationalError) as e:
                psycopg.connect(s.conninfo(user=user, password=pw)).close()
            assert "password authentication failed" in str(e.value).lower(), str(e.value)
        r = s.psql("SELECT 1", password="wrong password!", check=False)
        assert r.returncode != 0 and "password authentication failed" in r.stderr.lower()
        assert s.psql("SELECT 1", password="correct horse battery").stdout.strip() == "1"
    finally:
        s.stop()


def test_no_password_on_a_routable_address_refuses_to_start(demo_dir):
    r = subprocess.run([BIN, "serve", "--data-dir", demo_dir, "--pg-listen", "0.0.0.0:0"],
                       capture_output=True, text=True, timeout=60, env={**os.environ, "CUTOVER_PG_PASSWORD": ""})
    assert r.returncode == 2
    assert "not a loopback address and no password is set" in r.stderr


def test_tls_with_sslmode_require(demo_dir, tmp_path):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    s = Serve(demo_dir, extra=["--pg-tls-cert", str(cert), "--pg-tls-key", str(key)],
              env={"CUTOVER_PG_PASSWORD": "tls password 1"})
    try:
        info = s.conninfo(password="tls password 1").replace("sslmode=disable", f"sslmode=verify-full sslrootcert={cert}")
        with psycopg.connect(info) as conn:
            assert conn.pgconn.ssl_in_use
            assert conn.execute("SELECT count(*) FROM report_rto").fetchone()[0] == 1
    finally:
        s.stop()


def test_an_over_limit_query_is_stopped_and_the_server_keeps_serving(demo_dir):
    s = Serve(demo_dir, extra=["--query-timeout", "2", "--query-memory-mib", "64"])
    try:
        with psycopg.connect(s.conninfo(), autocommit=True) as conn:
            started = time.monotonic()
            with pytest.raises(psycopg.Error) as e:
                # About 1.4e8 rows through a cross join: far more than 2 s.
                conn.execute("SELECT count(*) FROM spans a, spans b WHERE a.duration_ms + b.duration_ms > -1")
            assert e.value.sqlstate == "57014", str(e.value)
            assert time.monotonic() - started < 20
            with pytest.raises(psycopg.Error) as e:
                # Sorting every span pair's text exceeds a 64 MiB pool.
                conn.execute("SELECT a.trace_id || b.trace_id AS k FROM spans a, spans b ORDER BY k LIMIT 1")
            assert e.value.sqlstate in ("53200", "57014"), str(e.value)
            assert conn.execute("SELECT count(*) FROM spans").fetchone()[0] > 0
    finally:
        s.stop()


def test_live_section_tables_grow_while_spans_are_still_sent(demo_dir, tmp_path):
    data = tmp_path / "live"
    spec = tmp_path / "spec.yaml"
    spec.write_text(open(os.path.join(demo_dir, "drill.yaml")).read())
    s = Serve(str(data), cmd="ingest",
              extra=["--otlp-grpc", "127.0.0.1:0", "--otlp-http", "127.0.0.1:0", "--region", "us-east-1",
                     "--pg-listen", "127.0.0.1:0", "--drill", str(spec), "--refresh", "0.5"])
    try:
        provider = TracerProvider(resource=Resource.create({"service.name": "frontend"}))
        provider.add_span_processor(SimpleSpanProcessor(
            OTLPSpanExporter(endpoint=f"http://{s.fields['otlp_http']}/v1/traces")))
        tracer = provider.get_tracer("cutover-tests")

        def events():
            r = s.psql("SELECT coalesce(sum(events), 0) FROM report_validity_pipeline").stdout
            return int(r.strip())

        assert events() == 0
        # A prepared statement (psycopg prepares on request; JDBC and pgx after a few runs)
        # is planned again at each execution: it follows the log too.
        watcher = psycopg.connect(s.conninfo(), autocommit=True)
        prepared = "SELECT count(*) FROM spans WHERE name = %s"
        assert watcher.execute(prepared, ["GET /"], prepare=True).fetchone()[0] == 0
        for wave, total in [(20, 20), (30, 50)]:
            for _ in range(wave):
                with tracer.start_as_current_span("GET /", kind=SpanKind.SERVER):
                    pass
            provider.force_flush()
            # The drill is still going (the next wave is not sent yet) and the section table
            # already has this wave.
            wait_until(lambda: events() == total, timeout=30, what=f"{total} events in report_validity_pipeline")
            assert watcher.execute(prepared, ["GET /"], prepare=True).fetchone()[0] == total
        watcher.close()
        provider.shutdown()
        assert s.psql("SELECT log_next_seq FROM serve_status").stdout.strip() == "50"
    finally:
        s.stop()


# Grafana's table and column browsers (postgresMetaQuery.ts), as its frontend sends them.
_SEARCH_PATH = """
          quote_ident(table_schema) IN (
          SELECT
            CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
          FROM
            generate_series(
              array_lower(string_to_array(current_setting('search_path'),','),1),
              array_upper(string_to_array(current_setting('search_path'),','),1)
            ) as i,
            string_to_array(current_setting('search_path'),',') s
          )"""
GRAFANA_TABLES = f"""SELECT
    CASE WHEN {_SEARCH_PATH}
      THEN quote_ident(table_name)
      ELSE quote_ident(table_schema) || '.' || quote_ident(table_name)
    END AS "table"
    FROM information_schema.tables
    WHERE quote_ident(table_schema) NOT IN ('information_schema',
                             'pg_catalog',
                             '_timescaledb_cache',
                             '_timescaledb_catalog',
                             '_timescaledb_internal',
                             '_timescaledb_config',
                             'timescaledb_information',
                             'timescaledb_experimental')
    ORDER BY CASE WHEN {_SEARCH_PATH} THEN 0 ELSE 1 END, 1"""
GRAFANA_COLUMNS = f"""SELECT quote_ident(column_name) AS "column", data_type AS "type"
    FROM information_schema.columns
    WHERE
      CASE WHEN array_length(parse_ident('report_rto_phases'),1) = 2
        THEN quote_ident(table_schema) = (parse_ident('report_rto_phases'))[1]
          AND quote_ident(table_name) = (parse_ident('report_rto_phases'))[2]
        ELSE quote_ident(table_name) = 'report_rto_phases'
          AND {_SEARCH_PATH}
      END"""


def test_grafana_table_and_column_browsers_answer(served):
    with psycopg.connect(served.conninfo()) as conn:
        res = conn.pgconn.exec_(GRAFANA_TABLES.encode())
        assert res.status == psycopg.pq.ExecStatus.TUPLES_OK, res.error_message
        tables = [res.get_value(r, 0).decode() for r in range(res.ntuples)]
        assert "spans" in tables and "report_rto_phases" in tables and "serve_status" in tables
        res = conn.pgconn.exec_(GRAFANA_COLUMNS.encode())
        assert res.status == psycopg.pq.ExecStatus.TUPLES_OK, res.error_message
        columns = [res.get_value(r, 0).decode() for r in range(res.ntuples)]
        assert columns[:2] == ["drill", "name"] and "time" in columns, columns
        schemas = conn.execute("SELECT schema_name AS name FROM information_schema.schemata WHERE schema_name "
                               "NOT IN ('information_schema','pg_catalog','pg_toast') ORDER BY schema_name").fetchall()
        assert ("public",) in schemas
        # Grafana's newer schema API: extended protocol with $1.
        names = conn.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
                             "AND table_type IN ('BASE TABLE', 'VIEW') ORDER BY table_name", ["public"]).fetchall()
        assert ("report_drills",) in names
