"""Grafana (grafana/): the provisioning files and dashboards agree with each other, and every
panel, annotation and variable query of every dashboard runs on a real `cutover serve` over the
demo drill exactly as Grafana would send it: template variables and macros expanded by
grafana_macros (Grafana's own rules), one simple-protocol Query message (PQexec, as pgx's
`PgConn().Exec`), a SELECT command tag, at least one row, and result columns of the shape the
panel needs (Grafana's result rules: a `time` column that is a timestamp or epoch seconds, sorted
ascending for time series; `time`/`text` for annotations)."""

import glob
import json
import os
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from psycopg import pq

import grafana_macros as gm

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
GRAFANA = os.path.join(ROOT, "grafana")
DS_TYPE = "grafana-postgresql-datasource"
DS_UID = "cutover"

# Type OIDs as pgx maps them (grafana-pg spec §3): what becomes a time, a number, a string.
TIMESTAMP_OIDS = {1114, 1184}  # timestamp, timestamptz
NUMERIC_OIDS = {20, 21, 23, 700, 701, 1700}  # int8, int2, int4, float4, float8, numeric
TEXT_OIDS = {25, 1043, 1042, 19, 705}  # text, varchar, bpchar, name, unknown

# A dashboard panel's pixel width, Grafana's default maxDataPoints: the resolution of $__interval.
PANEL_RESOLUTION = 1000
# The provisioned data source's jsonData.timeInterval (checked against the YAML below).
MIN_INTERVAL = "5s"

# Columns of every table-format panel, in order, keyed by (dashboard uid, panel title).
TABLE_COLUMNS = {
    ("cutover-alerts", "Alert findings"):
        ["not_fired", "late", "delivered_late", "suppressed_firing"],
    ("cutover-alerts", "Notifications received"): ["notifications", "instances", "firing"],
    ("cutover-alerts", "Alert audit"):
        ["fault_at", "reason", "expected_reason", "not_fired", "late", "delivered_late",
         "suppressed_firing", "silences_reason"],
    ("cutover-alerts", "Expected alerts"):
        ["alertname", "service", "max_delay_seconds", "fired", "delay_seconds", "late",
         "delivery_seconds", "delivery_late", "resolved", "firing_region", "firing_starts_at",
         "firing_received_at", "firing_resolved_at"],
    ("cutover-alerts", "Unexpected firings"):
        ["alertname", "service", "region", "fingerprint", "starts_at", "received_at",
         "notifications", "resolved_at"],
    ("cutover-alerts", "Suppression windows"):
        ["alertname", "from_marker", "to_marker", "from_at", "to_at", "to_data_end", "reason"],
    ("cutover-alerts", "Firing inside suppression windows"):
        ["alertname", "window_alertname", "service", "region", "fingerprint", "starts_at",
         "first_received_at", "notifications"],
    ("cutover-budget", "Budget consumed by the drill (%)"): ["name", "consumed_percent"],
    ("cutover-budget", "SLOs"):
        ["name", "objective", "period_days", "latency_threshold_ms", "drill_requests",
         "drill_bad_requests", "allowed_bad_requests", "consumed_percent",
         "max_drill_budget_percent", "met", "period_excluded_fraction", "reason"],
    ("cutover-budget", "Peak burn per window"):
        ["slo", "window", "window_seconds", "peak_burn", "peak_at", "requests", "bad_requests",
         "coverage", "max_coverage"],
    ("cutover-budget", "Multi-window burn alerts"):
        ["slo", "name", "factor", "long_window_seconds", "short_window_seconds", "fired",
         "fired_at", "long_burn", "short_burn", "long_coverage", "short_coverage"],
    ("cutover-budget", "Drill window and baseline"):
        ["drill_start", "drill_end", "step_seconds", "baseline_requests",
         "baseline_requests_per_second", "baseline_first_start", "baseline_last_start",
         "baseline_reason", "reason"],
    ("cutover-budget", "Abort criteria"):
        ["name", "error_ratio_above", "latency_p99_above_ms", "for_seconds", "region",
         "should_have_aborted", "abort_at", "drill_ended_after_seconds", "peak_error_ratio",
         "peak_at", "peak_p99_ms", "reason"],
    ("cutover-gaps", "Gap checks"):
        ["streams_checked", "unexpected_gaps", "late_followed", "never_followed"],
    ("cutover-gaps", "Gaps summary"):
        ["gap_factor", "data_end", "cutover_at", "follow_delay_seconds", "reason",
         "followed_reason"],
    ("cutover-gaps", "Gaps"):
        ["stream", "region", "service", "signal", "metric", "start", "end", "seconds", "open",
         "class"],
    ("cutover-gaps", "Followed the cutover?"):
        ["key", "service", "signal", "metric", "primary_last_at", "secondary_first_at",
         "delay_seconds", "status"],
    ("cutover-gaps", "Follow delay (s)"): ["key", "delay_seconds"],
    ("cutover-gaps", "Streams"):
        ["key", "region", "service", "signal", "metric", "events", "times", "first_at",
         "last_at", "cadence_seconds", "cadence_inferred", "threshold_seconds", "checked",
         "reason"],
    ("cutover-latency", "Spikes"):
        ["region", "service", "start", "end", "windows", "requests", "peak_p99_ms",
         "baseline_p99_ms", "baseline_scope"],
    ("cutover-latency", "Latency by phase"):
        ["region", "service", "phase", "requests", "bad_requests", "skipped", "p50_ms", "p90_ms",
         "p99_ms", "p999_ms", "max_ms"],
    ("cutover-latency", "p99 by phase"): ["phase", "p99_ms"],
    ("cutover-latency", "Phases against the baseline"):
        ["region", "service", "phase", "requests", "baseline_requests", "baseline_scope",
         "p99_ms", "baseline_p99_ms", "p99_diff_ms", "rank_biserial", "p_value", "valid",
         "reason"],
    ("cutover-overview", "Verdict"): ["verdict"],
    ("cutover-overview", "RTO (s)"): ["RTO", "target"],
    ("cutover-overview", "RPO (s)"): ["RPO", "target"],
    ("cutover-overview", "Lost writes"): ["lost_writes"],
    ("cutover-overview", "Served log"): ["time", "records", "log_next_seq", "build_ms"],
    ("cutover-overview", "Drill"):
        ["drill", "regions_primary", "regions_secondary", "verdict", "report_version"],
    ("cutover-overview", "RPO"):
        ["actual_seconds", "target_seconds", "met", "lost_writes", "estimate_seconds",
         "estimate_reason", "reason"],
    ("cutover-overview", "RTO"):
        ["fault_at", "fault_inferred", "recovered_at", "actual_seconds", "target_seconds", "met",
         "detected_by", "requests", "reason"],
    ("cutover-overview", "Marker timeline"): ["time", "marker"],
    ("cutover-overview", "Markers"): ["marker", "time", "region"],
    ("cutover-overview", "RPO per store"):
        ["store", "promoted_at", "last_applied_seq", "newest_surviving_write_at",
         "newest_lost_write_at", "lost_writes", "rpo_seconds", "reason"],
    ("cutover-rto", "RTO (s)"): ["RTO", "target"],
    ("cutover-rto", "RTO target"): ["rto"],
    ("cutover-rto", "Detected by"): ["detected_by", "fault_inferred"],
    ("cutover-rto", "SLI requests"): ["requests"],
    ("cutover-rto", "RTO phases"): ["time", "phase"],
    ("cutover-rto", "Phase durations (s)"): ["name", "seconds"],
    ("cutover-rto", "Phases"): ["name", "started_at", "ended_at", "seconds", "reason"],
    ("cutover-rto", "Samples per region and phase"):
        ["region", "phase", "requests", "bad", "enough"],
    ("cutover-rto", "Ingest lag per region"):
        ["region", "events", "lag_p50_seconds", "lag_p99_seconds", "lag_max_seconds",
         "lag_min_seconds", "lagging"],
    ("cutover-traces", "Traces"):
        ["traces", "spans", "cross_region_traces", "orphan_spans", "broken_traces"],
    ("cutover-traces", "Orphan spans by phase"): ["phase", "orphans"],
    ("cutover-traces", "Trace continuity"):
        ["cutover_at", "cutover_reason", "traces", "spans", "cross_region_traces",
         "orphan_spans", "broken_traces", "skew_tolerance_ms", "reason"],
    ("cutover-traces", "Broken traces"):
        ["trace_id", "regions", "spans", "before_cutover", "after_cutover", "roots", "orphans",
         "first_start"],
    ("cutover-traces", "Cross-region traces"): ["trace_id", "regions", "spans", "first_start"],
    ("cutover-traces", "Orphan spans"):
        ["trace_id", "span_id", "parent_span_id", "service", "region", "start"],
    ("cutover-traces", "New service edges after the cutover"):
        ["parent_service", "child_service", "first_seen_at", "calls"],
    ("cutover-traces", "Clock skew between regions"):
        ["parent_region", "child_region", "pairs", "starts_early", "ends_late", "skewed",
         "max_skew_ms", "worst_trace_id", "worst_span_id"],
    ("cutover-traces", "Messages"): ["published", "received", "lost", "duplicated", "unpublished"],
    ("cutover-traces", "Message reconciliation"):
        ["reason", "cutover_at", "split_reason", "totals_published", "totals_received",
         "totals_lost", "totals_duplicated", "totals_duplicated_messages", "totals_unpublished",
         "totals_deliveries"],
    ("cutover-traces", "Messages per destination"):
        ["destination", "before_published", "before_lost", "before_duplicated",
         "after_published", "after_lost", "after_duplicated", "total_published",
         "total_received", "total_lost", "total_duplicated", "total_unpublished"],
    ("cutover-traces", "Lost and duplicated messages"):
        ["kind", "destination", "message_id", "side", "published_at", "first_delivery_at",
         "deliveries"],
    ("cutover-traffic", "Residual traffic"):
        ["residual_requests", "residual_failed", "settle_seconds"],
    ("cutover-traffic", "Residual traffic summary"):
        ["cutover_at", "primary", "window_seconds", "residual_threshold", "residual_requests",
         "residual_failed", "last_residual_at", "settled_at", "settle_seconds", "settle_reason",
         "reason"],
    ("cutover-traffic", "Session drops per region"):
        ["region", "baseline_scope", "baseline_requests", "baseline_auth_failures",
         "baseline_rate", "after_requests", "after_auth_failures", "after_rate", "flagged"],
    ("cutover-traffic", "Auth-failure rate before and after"):
        ["region", "baseline_rate", "after_rate"],
    ("cutover-traffic", "Session-drop check"):
        ["sessions_factor", "sessions_floor", "sessions_baseline_requests",
         "sessions_baseline_auth_failures", "sessions_reason"],
}

# Panels allowed to return no rows for the demo drill (their columns are still checked), and why.
MAY_BE_EMPTY = {
    # The demo simulates no Alertmanager, so the raw alerts table is empty; the panels beside it
    # (report_alerts and its sections) always return a row.
    ("cutover-alerts", "Notifications by alert"): "the demo drill has no alert notifications",
}


# --- the files ---------------------------------------------------------------------------------

def _load_dashboards():
    loaded, errors = [], []
    for path in sorted(glob.glob(os.path.join(GRAFANA, "dashboards", "*.json"))):
        try:
            with open(path, encoding="utf-8") as f:
                loaded.append((os.path.basename(path), json.load(f)))
        except (OSError, ValueError) as e:
            errors.append(f"{path}: {e}")
    return loaded, errors


DASHBOARDS, DASHBOARD_ERRORS = _load_dashboards()


def _panels():
    return [pytest.param(d, p, id=f"{d['uid']}/{p['title']}")
            for _, d in DASHBOARDS for p in d.get("panels", [])]


def _annotations():
    return [pytest.param(d, a, id=f"{d['uid']}/annotation {a['name']}")
            for _, d in DASHBOARDS for a in d.get("annotations", {}).get("list", [])]


def _variables():
    return [pytest.param(d, v, id=f"{d['uid']}/${v['name']}")
            for _, d in DASHBOARDS for v in d.get("templating", {}).get("list", [])]


def read_yaml(text):
    """The YAML subset the provisioning files use: block mappings, block sequences of mappings,
    plain or quoted scalars, `#` comments. (PyYAML is not a dependency of the suite.)"""
    lines = []
    for raw in text.splitlines():
        line = _strip_yaml_comment(raw).rstrip()
        if line.strip():
            lines.append([len(line) - len(line.lstrip(" ")), line.strip()])
    value, end = _yaml_block(lines, 0, lines[0][0])
    assert end == len(lines), f"unparsed YAML from line {lines[end]}"
    return value


def _strip_yaml_comment(line):
    """Drops a `#` comment: one at the start or after a space, outside quotes."""
    quote = None
    for i, c in enumerate(line):
        if quote:
            quote = None if c == quote else quote
        elif c in "'\"" and (i == 0 or line[i - 1] in " :-["):
            quote = c
        elif c == "#" and (i == 0 or line[i - 1] == " "):
            return line[:i]
    return line


def _yaml_block(lines, i, indent):
    if lines[i][1].startswith("- "):
        items = []
        while i < len(lines) and lines[i][0] == indent and lines[i][1].startswith("- "):
            lines[i] = [indent + 2, lines[i][1][2:].lstrip(" ")]
            if ":" not in lines[i][1]:
                items.append(_yaml_scalar(lines[i][1]))
                i += 1
                continue
            item, i = _yaml_block(lines, i, indent + 2)
            items.append(item)
        return items, i
    mapping = {}
    while i < len(lines) and lines[i][0] == indent:
        key, sep, rest = lines[i][1].partition(":")
        assert sep, f"not a mapping entry: {lines[i][1]!r}"
        i += 1
        if rest.strip():
            mapping[key.strip()] = _yaml_scalar(rest.strip())
        elif i < len(lines) and lines[i][0] > indent:
            mapping[key.strip()], i = _yaml_block(lines, i, lines[i][0])
        else:
            mapping[key.strip()] = None
    return mapping, i


def _yaml_scalar(s):
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "'\"":
        return s[1:-1]
    if s in ("true", "false"):
        return s == "true"
    if re.fullmatch(r"-?[0-9]+", s):
        return int(s)
    return s


def _provisioning(kind):
    with open(os.path.join(GRAFANA, "provisioning", kind, "cutover.yaml"), encoding="utf-8") as f:
        return read_yaml(f.read())


def _datasource_refs(node, path="$"):
    """Every `datasource` value anywhere in a dashboard, with where it is."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "datasource":
                yield path, v
            yield from _datasource_refs(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _datasource_refs(v, f"{path}[{i}]")


def _query_text(query):
    """A variable's query: a string, or (newer Grafana) an object with rawSql."""
    return query if isinstance(query, str) else query["rawSql"]


def test_dashboard_files_parse():
    assert not DASHBOARD_ERRORS
    assert len(DASHBOARDS) == 8, [name for name, _ in DASHBOARDS]
    for name, d in DASHBOARDS:
        assert isinstance(d, dict) and "dashboard" not in d, f"{name}: not a bare dashboard model"


def test_dashboard_uids_and_titles_unique():
    uids = [d["uid"] for _, d in DASHBOARDS]
    titles = [d["title"] for _, d in DASHBOARDS]
    assert len(set(uids)) == len(uids), uids
    assert len(set(titles)) == len(titles), titles
    assert all(u.startswith("cutover-") for u in uids), uids


@pytest.mark.parametrize("name,d", [pytest.param(n, d, id=d.get("uid", n)) for n, d in DASHBOARDS])
def test_dashboard_model(name, d):
    for key in ("uid", "title", "schemaVersion", "panels", "templating", "annotations"):
        assert key in d, f"{name}: no {key}"
    assert d["schemaVersion"] == 39
    assert d["time"] == {"from": "now-6h", "to": "now"}
    assert d["refresh"] == "10s"
    assert "cutover" in d["tags"]
    variables = {v["name"]: v for v in d["templating"]["list"]}
    assert list(variables) == ["drill", "region", "service"], "drill must come first: region uses it"
    assert _query_text(variables["drill"]["query"]) == "SELECT drill FROM report_drills ORDER BY 1"
    assert not variables["drill"]["multi"] and not variables["drill"]["includeAll"]
    for multi in ("region", "service"):
        assert variables[multi]["multi"] and variables[multi]["includeAll"], multi
    ids = [p.get("id") for p in d["panels"]]
    assert len(set(ids)) == len(ids) and all(isinstance(i, int) for i in ids), ids
    titles = [p.get("title") for p in d["panels"]]
    assert len(set(titles)) == len(titles), "panel titles name the tests: keep them unique"
    for p in d["panels"]:
        where = f"{name} panel {p.get('id')} {p.get('title')!r}"
        for key in ("id", "type", "title", "gridPos", "datasource", "targets"):
            assert p.get(key) not in (None, "", []), f"{where}: no {key}"
        g = p["gridPos"]
        assert all(isinstance(g.get(k), int) for k in "hwxy") and g["x"] + g["w"] <= 24, where
        # One query per panel, so each test id below proves exactly one query.
        assert len(p["targets"]) == 1, where
        for t in p["targets"]:
            assert t.get("refId") and t.get("rawSql", "").strip(), where
            assert t["format"] in ("time_series", "table"), where
            assert t.get("editorMode") == "code" and t.get("rawQuery") is True, where
            if "report_" in t["rawSql"]:
                # Several drills may be served: report tables are always filtered to one.
                assert "drill = '$drill'" in t["rawSql"], where
    for a in d["annotations"]["list"]:
        assert a.get("name") and a.get("enable") is True and a["target"].get("rawSql", "").strip()
        assert a["target"]["format"] == "table"
        assert "report_" not in a["target"]["rawSql"] or "drill = '$drill'" in a["target"]["rawSql"]


def test_table_columns_cover_the_table_panels():
    table_panels = {(d["uid"], p["title"]) for _, d in DASHBOARDS for p in d["panels"]
                    if p["targets"][0]["format"] == "table"}
    assert set(TABLE_COLUMNS) == table_panels
    assert set(MAY_BE_EMPTY) <= {(d["uid"], p["title"]) for _, d in DASHBOARDS for p in d["panels"]}


def test_every_datasource_reference_is_the_provisioned_one():
    (ds,) = _provisioning("datasources")["datasources"]
    refs = [(name, path, ref) for name, d in DASHBOARDS for path, ref in _datasource_refs(d)]
    assert refs
    for name, path, ref in refs:
        assert ref == {"type": ds["type"], "uid": ds["uid"]}, f"{name} {path}: {ref}"
    for _, d in DASHBOARDS:
        for p in d["panels"]:
            assert "datasource" in p and all("datasource" in t for t in p["targets"])
        for a in d["annotations"]["list"]:
            assert "datasource" in a and "datasource" in a["target"]
        for v in d["templating"]["list"]:
            assert "datasource" in v


def test_datasource_provisioning():
    conf = _provisioning("datasources")
    assert conf["apiVersion"] == 1
    (ds,) = conf["datasources"]
    assert {k: ds[k] for k in ("name", "type", "uid", "url", "user")} == {
        "name": "cutover", "type": DS_TYPE, "uid": DS_UID, "url": "127.0.0.1:5433",
        "user": "cutover"}
    assert ds["jsonData"] == {
        "database": "cutover", "sslmode": "disable", "postgresVersion": 1600,
        "timescaledb": False, "maxOpenConns": 10, "maxIdleConns": 10,
        "connMaxLifetime": 14400, "timeInterval": MIN_INTERVAL}
    # Expanded by Grafana from its environment: no password in the repository.
    assert ds["secureJsonData"] == {"password": "$CUTOVER_PG_PASSWORD"}


def test_dashboard_provisioning():
    conf = _provisioning("dashboards")
    assert conf["apiVersion"] == 1
    (provider,) = conf["providers"]
    assert {k: provider[k] for k in ("name", "folder", "type")} == {
        "name": "cutover", "folder": "cutover", "type": "file"}
    assert provider["options"] == {"path": "/var/lib/grafana/dashboards/cutover",
                                   "foldersFromFilesStructure": False}


def test_read_yaml_subset():
    doc = read_yaml("""# c
a: 1
b:
  - name: x   # trailing comment
    nested:
      s: "5s"
      t: '#not a comment'
  - name: y
c: $VAR
d: true   # it's a comment
e: it's # a comment
""")
    assert doc == {"a": 1, "b": [{"name": "x", "nested": {"s": "5s", "t": "#not a comment"}},
                                 {"name": "y"}], "c": "$VAR", "d": True, "e": "it's"}


# --- grafana_macros against the spec's examples ------------------------------------------------

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
T1 = datetime(2024, 1, 1, 0, 0, 0, 500000, tzinfo=timezone.utc)


@pytest.mark.parametrize("value,text", [
    (10.0, "10"), (0.5, "0.5"), (604800.0, "604800"), (1e6, "1e+06"), (2592000.0, "2.592e+06"),
    (123456.7, "123456.7"), (0.0001, "0.0001"), (0.00001, "1e-05"), (-1.5, "-1.5"), (0.0, "0"),
])
def test_go_fmt_v(value, text):
    assert gm.go_fmt_v(value) == text


def test_rfc3339nano_trims_trailing_zeros():
    assert gm.rfc3339nano(T0) == "2024-01-01T00:00:00Z"
    assert gm.rfc3339nano(T1) == "2024-01-01T00:00:00.5Z"
    assert gm.rfc3339nano(T0.replace(microsecond=120)) == "2024-01-01T00:00:00.00012Z"


@pytest.mark.parametrize("macro,expanded", [
    ("$__time(ts)", 'ts AS "time"'),
    ("$__timeEpoch(ts)", 'extract(epoch from ts) as "time"'),
    ("$__timeFilter(ts)", "ts BETWEEN '2024-01-01T00:00:00Z' AND '2024-01-01T00:00:00.5Z'"),
    ("$__timeFrom()", "'2024-01-01T00:00:00Z'"),
    ("$__timeTo()", "'2024-01-01T00:00:00.5Z'"),
    ("$__timeGroup(ts,'10s')", "floor(extract(epoch from ts)/10)*10"),
    ("$__timeGroup(ts, 500ms)", "floor(extract(epoch from ts)/0.5)*0.5"),
    ("$__timeGroup(ts,'1w')", "floor(extract(epoch from ts)/604800)*604800"),
    ("$__timeGroupAlias(ts,1m)", 'floor(extract(epoch from ts)/60)*60 AS "time"'),
    ("$__timeGroup(ts,'1h30m', NULL)", "floor(extract(epoch from ts)/5400)*5400"),
    ("$__unixEpochFilter(e)", "e >= 1704067200 AND e <= 1704067200"),
    ("$__unixEpochNanoFilter(e)", "e >= 1704067200000000000 AND e <= 1704067200500000000"),
    ("$__unixEpochNanoFrom()", "1704067200000000000"),
    ("$__unixEpochGroupAlias(e,'1d')", 'floor((e)/86400)*86400 AS "time"'),
])
def test_macro(macro, expanded):
    assert gm.expand_macros(macro, T0, T1) == expanded


def test_time_group_with_timescaledb():
    assert gm.expand_macros("$__timeGroup(ts,'1m')", T0, T1, timescaledb=True) == \
        "time_bucket('60.000s',ts)"


def test_time_group_followed_by_a_comma_gets_the_alias_everywhere():
    sql = "SELECT $__timeGroup(ts,'1m'), avg(v) FROM m GROUP BY $__timeGroup(ts,'1m')"
    tg = "floor(extract(epoch from ts)/60)*60"
    assert gm.expand_macros(sql, T0, T1) == \
        f'SELECT {tg} AS "time", avg(v) FROM m GROUP BY {tg} AS "time"'
    sql = "SELECT $__timeGroup(ts,'1m') AS t, avg(v) FROM m GROUP BY $__timeGroup(ts,'1m')"
    assert gm.expand_macros(sql, T0, T1) == f"SELECT {tg} AS t, avg(v) FROM m GROUP BY {tg}"


@pytest.mark.parametrize("sql,error", [
    ("SELECT $__bogus(x)", 'unknown macro "__bogus"'),
    ("SELECT $__timeGroup(ts)", "macro __timeGroup needs time column and interval and optional fill value"),
    ("SELECT $__timeGroup(ts, 'often')", "error parsing interval 'often'"),
    ("SELECT $__timeGroup(ts, 1m, zero)", "error parsing fill value zero"),
])
def test_macro_errors(sql, error):
    with pytest.raises(gm.MacroError, match=re.escape(error)):
        gm.expand_macros(sql, T0, T1)


def test_comments_are_stripped_outside_quotes():
    sql = "SELECT '--a' AS x, $$ /* b */ $$ -- $__bogus(y)\nFROM t /* $__bogus(z) */"
    assert gm.expand_macros(sql, T0, T1) == "SELECT '--a' AS x, $$ /* b */ $$ \nFROM t "


def test_intervals():
    assert gm.calculate_interval(T0, T0 + timedelta(hours=6), 1000, "5s") == ("20s", 20000)
    assert gm.calculate_interval(T0, T0 + timedelta(minutes=17), 1000, "5s") == ("5s", 5000)
    assert gm.calculate_interval(T0, T0 + timedelta(days=7), 1000, "5s") == ("10m", 600000)
    assert gm.format_interval(90 * 60 * 10**9) == "1h"
    assert gm.format_interval(1500 * 10**6) == "1s"
    assert gm.format_interval(10) == "1ms"
    assert gm.parse_interval("1h30m") == 5400 * 10**9
    assert gm.parse_interval("1M", datetime(2024, 1, 31, tzinfo=timezone.utc)) == 31 * 86400 * 10**9
    sql = "SELECT $__interval_ms, '$__interval', $__unixEpochFrom(), $__unixEpochTo()"
    assert gm.backend_interpolate(sql, 90 * 10**9, T0, T1) == \
        "SELECT 90000, '1m', 1704067200, 1704067200"


def test_template_variables_are_quoted_like_grafana():
    variables = {
        "drill": gm.Variable("it's"),
        "region": gm.Variable(gm.ALL, multi=True, include_all=True, all_values=["a", "b'c"]),
        "service": gm.Variable(["x"], multi=True, include_all=True),
        "one": gm.Variable("y", include_all=True),
    }
    sql = "'$drill' IN ($region) ${service} [[one]] $__interval/$__interval_ms $__timeFilter(t) $other"
    assert gm.replace_variables(sql, variables, "20s", 20000) == \
        "'it''s' IN ('a','b''c') 'x' 'y' 20s/20000 $__timeFilter(t) $other"


# --- the queries on a real server --------------------------------------------------------------

@dataclass
class Result:
    names: list
    oids: list
    rows: list  # tuples of text values (None for NULL)

    def column(self, name):
        i = self.names.index(name)
        return [r[i] for r in self.rows]


def simple_query(conn, sql):
    """One Query message, like Grafana's `PgConn().Exec`; fails on anything Grafana would not
    turn into a frame."""
    res = conn.pgconn.exec_(sql.encode())
    assert res.status == pq.ExecStatus.TUPLES_OK, \
        f"{(res.error_message or b'').decode()}\nSQL sent:\n{sql}"
    assert res.command_status.startswith(b"SELECT"), (res.command_status, sql)
    names = [res.fname(i).decode() for i in range(res.nfields)]
    oids = [res.ftype(i) for i in range(res.nfields)]
    rows = []
    for r in range(res.ntuples):
        values = (res.get_value(r, c) for c in range(res.nfields))
        rows.append(tuple(None if v is None else v.decode() for v in values))
    return Result(names, oids, rows)


def parse_time(text, oid):
    if oid in NUMERIC_OIDS:
        return float(text)
    return datetime.fromisoformat(text)


@dataclass
class Env:
    """What Grafana would send with a dashboard's queries: its variables' values, the time
    range (epoch milliseconds) and $__interval."""
    variables: dict
    time_from: datetime
    time_to: datetime
    interval: tuple

    def sql(self, raw_sql):
        return gm.grafana_sql(raw_sql, self.variables, self.time_from, self.time_to, *self.interval)


@pytest.fixture(scope="session")
def pg(served):
    with psycopg.connect(served.conninfo(), autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="session")
def drill_name(demo_dir):
    with open(os.path.join(demo_dir, "drill.yaml"), encoding="utf-8") as f:
        return re.search(r"^name:\s*(.+?)\s*$", f.read(), re.M).group(1).strip("'\"")


def _ms(t):
    return t.replace(microsecond=t.microsecond // 1000 * 1000)


@pytest.fixture(scope="session")
def time_range(pg):
    """The demo drill's markers, 5 minutes either side, in Grafana's millisecond resolution."""
    r = simple_query(pg, "SELECT min(time), max(time) FROM markers")
    first, last = (parse_time(v, 1184) for v in r.rows[0])
    return _ms(first - timedelta(minutes=5)), _ms(last + timedelta(minutes=5))


@pytest.fixture(scope="session")
def env(pg, time_range):
    """Env per dashboard uid: its variables resolved in order from their own queries on the
    server ($drill: the first drill; $region, $service: All)."""
    cache = {}

    def get(d):
        if d["uid"] not in cache:
            t0, t1 = time_range
            e = Env({}, t0, t1, gm.calculate_interval(t0, t1, PANEL_RESOLUTION, MIN_INTERVAL))
            for v in d["templating"]["list"]:
                values = variable_values(simple_query(pg, e.sql(_query_text(v["query"]))))
                assert values, f"variable {v['name']} has no values"
                if v["multi"] or v["includeAll"]:
                    e.variables[v["name"]] = gm.Variable(
                        gm.ALL if v["includeAll"] else [values[0]], multi=v["multi"],
                        include_all=v["includeAll"], all_values=values)
                else:
                    e.variables[v["name"]] = gm.Variable(values[0])
            cache[d["uid"]] = e
        return cache[d["uid"]]
    return get


def variable_values(result):
    """metricFindQuery: `__value` when there are `__text`/`__value` columns, else every value of
    every column, de-duplicated."""
    if "__text" in result.names and "__value" in result.names:
        return list(dict.fromkeys(result.column("__value")))
    return list(dict.fromkeys(v for row in result.rows for v in row if v is not None))


def check_time_series(r):
    """Grafana's time_series rules: a `time` column that is a timestamp or numeric epoch
    seconds, no NULL times, rows ascending by time (long frames need it), every other column a
    number or a string label, at least one number."""
    assert r.names.count("time") == 1, r.names
    oid = r.oids[r.names.index("time")]
    assert oid in TIMESTAMP_OIDS | NUMERIC_OIDS, f"time column type {oid}"
    times = r.column("time")
    assert None not in times, "NULL time values"
    parsed = [parse_time(t, oid) for t in times]
    assert parsed == sorted(parsed), "rows are not sorted ascending by time"
    if oid in NUMERIC_OIDS:
        # epochPrecisionToMS: only a value formatted with an e+09 exponent is read as seconds.
        assert all(1e9 <= t < 1e10 for t in parsed), parsed[:3]
    others = [(n, o) for n, o in zip(r.names, r.oids) if n != "time"]
    assert all(o in NUMERIC_OIDS | TEXT_OIDS for _, o in others), others
    assert any(o in NUMERIC_OIDS for _, o in others), "no value column"
    if "metric" in r.names:
        assert r.oids[r.names.index("metric")] in TEXT_OIDS


def check_time_columns(r):
    """Table format converts `time` (and `timeend`, any case) to time fields: a string there
    fails with 'unable to convert data to a time field'."""
    for name, oid in zip(r.names, r.oids):
        if name == "time" or name.lower() == "timeend":
            assert oid in TIMESTAMP_OIDS | NUMERIC_OIDS, (name, oid)


@pytest.mark.parametrize("d,panel", _panels())
def test_panel_query(pg, env, d, panel):
    key = (d["uid"], panel["title"])
    for target in panel["targets"]:
        r = simple_query(pg, env(d).sql(target["rawSql"]))
        if key not in MAY_BE_EMPTY:
            assert r.rows, "no rows for the demo drill"
        if target["format"] == "time_series":
            check_time_series(r)
        else:
            assert r.names == TABLE_COLUMNS[key]
            check_time_columns(r)
            if panel["type"] == "state-timeline":
                # A state timeline over a table frame: states (strings) from a time field.
                assert r.names[0] == "time" and r.oids[0] in TIMESTAMP_OIDS, r.names


@pytest.mark.parametrize("d,annotation", _annotations())
def test_annotation_query(pg, env, d, annotation):
    r = simple_query(pg, env(d).sql(annotation["target"]["rawSql"]))
    assert r.rows, "no annotations for the demo drill"
    assert "time" in r.names and "text" in r.names, r.names
    check_time_columns(r)
    assert r.oids[r.names.index("text")] in TEXT_OIDS
    assert None not in r.column("time") and None not in r.column("text")
    if "tags" in r.names:
        assert r.oids[r.names.index("tags")] in TEXT_OIDS


@pytest.mark.parametrize("d,variable", _variables())
def test_variable_query(pg, env, drill_name, d, variable):
    r = simple_query(pg, env(d).sql(_query_text(variable["query"])))
    assert len(r.names) == 1 or {"__text", "__value"} <= set(r.names), r.names
    values = variable_values(r)
    if variable["name"] == "drill":
        assert values == [drill_name]
    elif variable["name"] == "region":
        r = simple_query(pg, f"SELECT regions_primary, regions_secondary FROM report_drills "
                             f"WHERE drill = '{drill_name}'")
        assert set(r.rows[0]) <= set(values), values
    elif variable["name"] == "service":
        assert "frontend" in values, values  # the demo's SLI service
