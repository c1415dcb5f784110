"""Real Prometheus and Alertmanager (Debian packages) against cutover: two Prometheus servers
labelled as two regions remote-write scraped samples; a rule fires and resolves through
Alertmanager's webhook. Skipped, loudly, only when the binaries are missing (scripts/test.sh
installs them)."""

import http.server
import json
import os
import shutil
import socket
import subprocess
import threading
import time

import pytest

from conftest import query, wait_until

PROM = shutil.which("prometheus")
AM = shutil.which("prometheus-alertmanager")
pytestmark = pytest.mark.skipif(not (PROM and AM), reason="prometheus / prometheus-alertmanager not installed")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Target:
    """A scrape target whose metric values the test sets."""

    def __init__(self):
        self.values = {"drill_requests_total": 42.0, "drill_up": 1.0}
        target = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = ("# HELP drill_requests_total Requests the drill served.\n"
                        "# TYPE drill_requests_total counter\n"
                        + "".join(f"{k} {v}\n" for k, v in target.values.items())).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()


class Proc:
    def __init__(self, args, log):
        self.log = open(log, "w")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def start_prometheus(tmp, name, region, target_port, write_url, am_port=None, services=("frontend",)):
    d = os.path.join(tmp, name)
    os.makedirs(d)
    rules = os.path.join(d, "rules.yml")
    with open(rules, "w") as f:
        f.write("groups:\n- name: drill\n  interval: 1s\n  rules:\n")
        for service in services:
            f.write(f"  - alert: DrillServiceDown\n    expr: drill_up == 0\n    labels: {{service: {service}, severity: page}}\n"
                    f"    annotations: {{summary: {service} is down}}\n")
    alerting = ""
    if am_port:
        alerting = f"alerting:\n  alertmanagers:\n  - static_configs:\n    - targets: ['127.0.0.1:{am_port}']\n"
    cfg = os.path.join(d, "prometheus.yml")
    with open(cfg, "w") as f:
        f.write(f"""global:
  scrape_interval: 1s
  evaluation_interval: 1s
  external_labels: {{region: {region}}}
rule_files: ['{rules}']
scrape_configs:
- job_name: frontend
  static_configs:
  - targets: ['127.0.0.1:{target_port}']
remote_write:
- url: {write_url}
  queue_config: {{batch_send_deadline: 1s, min_backoff: 100ms, max_backoff: 1s}}
  metadata_config: {{send: true, send_interval: 1s}}
{alerting}""")
    port = free_port()
    return Proc([PROM, f"--config.file={cfg}", f"--storage.tsdb.path={d}/data", f"--web.listen-address=127.0.0.1:{port}",
                 "--rules.alert.resend-delay=1s"], os.path.join(d, "prometheus.log"))


def test_two_prometheus_regions_remote_write_samples(daemon, tmp_path):
    target = Target()
    write_url = f"http://{daemon.http}/api/v1/write"
    procs = [start_prometheus(str(tmp_path), "east", "us-east-1", target.port, write_url),
             start_prometheus(str(tmp_path), "west", "us-west-2", target.port, write_url)]
    started = time.time()
    try:
        sql = ("SELECT region, service, value, attributes['instance'] AS instance, attributes['job'] AS job, "
               "CAST(time AS BIGINT) AS t, source FROM metric_points WHERE name = 'drill_requests_total'")
        wait_until(lambda: {r["region"] for r in query(daemon.data_dir, sql)} >= {"us-east-1", "us-west-2"},
                   timeout=90, what="samples from both Prometheus regions")
        rows = query(daemon.data_dir, sql)
        for r in rows:
            assert r["value"] == 42.0
            assert r["service"] == "frontend" and r["job"] == "frontend"
            assert r["instance"] == f"127.0.0.1:{target.port}"
            assert r["source"] == "prometheus_remote_write"
            # Sample timestamps are the scrape times, not the receive times.
            assert started - 5 <= r["t"] / 1e9 <= time.time() + 1
        up = query(daemon.data_dir, "SELECT count(*) AS n FROM metric_points WHERE name = 'up' AND value = 1")
        assert up[0]["n"] >= 2
        # Metadata (type, help) is kept, not answered 204 and dropped.
        md_sql = ("SELECT metric_type, help, unit, source FROM metric_metadata "
                  "WHERE name = 'drill_requests_total'")
        wait_until(lambda: query(daemon.data_dir, md_sql), timeout=60, what="remote_write metadata")
        for r in query(daemon.data_dir, md_sql):
            assert (r["metric_type"], r["help"], r["source"]) == (
                "counter", "Requests the drill served.", "prometheus_remote_write")
    finally:
        for p in procs:
            p.stop()
        target.stop()


def test_alert_fires_and_resolves_through_alertmanager(daemon, tmp_path):
    target = Target()
    am_port = free_port()
    am_dir = tmp_path / "am"
    am_dir.mkdir()
    (am_dir / "am.yml").write_text(f"""route:
  receiver: cutover
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
- name: cutover
  webhook_configs:
  - url: http://{daemon.http}/v1/alertmanager
    send_resolved: true
""")
    am = Proc([AM, f"--config.file={am_dir / 'am.yml'}", f"--storage.path={am_dir / 'data'}",
               f"--web.listen-address=127.0.0.1:{am_port}", "--cluster.listen-address="], str(am_dir / "am.log"))
    target.values["drill_up"] = 0.0
    prom = start_prometheus(str(tmp_path), "east", "us-east-1", target.port, f"http://{daemon.http}/api/v1/write", am_port)
    try:
        sql = ("SELECT status, region, service, receiver, attributes['severity'] AS severity, "
               "CAST(starts_at AS BIGINT) AS starts, CAST(time AS BIGINT) AS received, fingerprint, annotations "
               "FROM alerts WHERE alertname = 'DrillServiceDown' ORDER BY time")
        wait_until(lambda: any(r["status"] == "firing" for r in query(daemon.data_dir, sql)), timeout=90, what="firing webhook")
        target.values["drill_up"] = 1.0
        wait_until(lambda: any(r["status"] == "resolved" for r in query(daemon.data_dir, sql)), timeout=90, what="resolved webhook")
        rows = query(daemon.data_dir, sql)
        firing = next(r for r in rows if r["status"] == "firing")
        resolved = next(r for r in rows if r["status"] == "resolved")
        for r in (firing, resolved):
            assert (r["region"], r["service"], r["receiver"], r["severity"]) == ("us-east-1", "frontend", "cutover", "page")
            assert r["received"] >= r["starts"]
            assert '"summary":"frontend is down"' in r["annotations"]
        assert firing["fingerprint"] == resolved["fingerprint"] != ""
        assert firing["received"] < resolved["received"]
    finally:
        prom.stop()
        am.stop()
        target.stop()


def test_truncated_alertmanager_notifications_are_counted(daemon, tmp_path):
    """Alertmanager's webhook max_alerts leaves alerts out of a notification; cutover keeps
    truncatedAlerts, groupKey and groupLabels so the alert audit can say so."""
    target = Target()
    am_port = free_port()
    am_dir = tmp_path / "am"
    am_dir.mkdir()
    (am_dir / "am.yml").write_text(f"""route:
  receiver: cutover
  group_by: [alertname]
  group_wait: 2s
  group_interval: 1s
  repeat_interval: 1h
receivers:
- name: cutover
  webhook_configs:
  - url: http://{daemon.http}/v1/alertmanager
    max_alerts: 1
""")
    am = Proc([AM, f"--config.file={am_dir / 'am.yml'}", f"--storage.path={am_dir / 'data'}",
               f"--web.listen-address=127.0.0.1:{am_port}", "--cluster.listen-address="], str(am_dir / "am.log"))
    target.values["drill_up"] = 0.0
    prom = start_prometheus(str(tmp_path), "east", "us-east-1", target.port, f"http://{daemon.http}/api/v1/write",
                            am_port, services=("frontend", "checkout"))
    try:
        sql = ("SELECT service, group_key, group_labels, truncated_alerts FROM alerts "
               "WHERE alertname = 'DrillServiceDown' AND status = 'firing' ORDER BY time")
        wait_until(lambda: any(r["truncated_alerts"] == 1 for r in query(daemon.data_dir, sql)), timeout=90,
                   what="a notification with one alert left out")
        r = next(r for r in query(daemon.data_dir, sql) if r["truncated_alerts"] == 1)
        assert r["service"] in ("frontend", "checkout")
        assert json.loads(r["group_labels"]) == {"alertname": "DrillServiceDown"}
        assert "DrillServiceDown" in r["group_key"]
    finally:
        prom.stop()
        am.stop()
        target.stop()
