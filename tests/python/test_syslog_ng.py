"""Real syslog-ng (Debian package syslog-ng-core) forwards RFC 5424 over TCP and RFC 3164 over
UDP, including a CEF message, to cutover; the SIEM events are queryable with parsed fields.
Unparsable input is kept raw, flagged and counted."""

import os
import shutil
import socket
import subprocess
import tempfile
import urllib.request

import pytest

from conftest import Daemon, query, wait_until

SYSLOG_NG = shutil.which("syslog-ng") or ("/usr/sbin/syslog-ng" if os.path.exists("/usr/sbin/syslog-ng") else None)

LINES = [
    "<13>Nov 26 12:00:00 apphost myapp[42]: user login ok",
    "<86>Nov 26 12:00:01 fw1 fwd: CEF:0|Acme|Firewall|3.1|100|Blocked connection|7|src=10.1.1.1 dst=10.2.2.2 region=us-west-2",
    "<14>Nov 26 12:00:02 apphost myapp: plain message two",
]


@pytest.fixture
def syslog_daemon():
    with tempfile.TemporaryDirectory() as d:
        dm = Daemon(d, region="us-east-1", extra=["--syslog-tcp", "127.0.0.1:0", "--syslog-udp", "127.0.0.1:0"])
        yield dm
        dm.stop()


@pytest.mark.skipif(not SYSLOG_NG, reason="syslog-ng not installed")
def test_syslog_ng_forwards_rfc5424_tcp_and_rfc3164_udp_with_cef(syslog_daemon, tmp_path):
    d = syslog_daemon
    tcp_port = d.fields["syslog_tcp"].rsplit(":", 1)[1]
    udp_port = d.fields["syslog_udp"].rsplit(":", 1)[1]
    src = tmp_path / "in.log"
    src.write_text("".join(l + "\n" for l in LINES))
    conf = tmp_path / "syslog-ng.conf"
    conf.write_text(f"""@version: 3.38
options {{ keep-hostname(yes); stats-freq(0); }};
source s_in {{ file("{src}" follow-freq(0.2)); }};
destination d_tcp {{ syslog("127.0.0.1" port({tcp_port}) transport("tcp")); }};
destination d_udp {{ network("127.0.0.1" port({udp_port}) transport("udp")); }};
log {{ source(s_in); destination(d_tcp); destination(d_udp); }};
""")
    log = open(tmp_path / "syslog-ng.out", "w")
    proc = subprocess.Popen([SYSLOG_NG, "-F", "--no-caps", "-f", str(conf), "-p", str(tmp_path / "pid"),
                             "-c", str(tmp_path / "ctl"), "-R", str(tmp_path / "persist")],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        sql = ("SELECT source, format, facility, severity, hostname, app_name, proc_id, message, is_cef, "
               "cef_vendor, cef_product, cef_signature_id, cef_severity, region, service, parse_error, "
               "attributes['src'] AS src FROM siem ORDER BY source, message")
        def arrived():
            if proc.poll() is not None:
                raise AssertionError("syslog-ng exited: " + (tmp_path / "syslog-ng.out").read_text())
            return len(query(d.data_dir, sql)) >= 6

        wait_until(arrived, timeout=60, what="6 siem events from syslog-ng")
        rows = query(d.data_dir, sql)
        assert len(rows) == 6, rows
        by_source = {"syslog_tcp": [], "syslog_udp": []}
        for r in rows:
            by_source[r["source"]].append(r)
        assert [r["format"] for r in by_source["syslog_tcp"]] == ["rfc5424"] * 3
        assert [r["format"] for r in by_source["syslog_udp"]] == ["rfc3164"] * 3
        for rs in by_source.values():
            login = next(r for r in rs if "login" in r["message"])
            assert (login["facility"], login["severity"], login["hostname"], login["app_name"], login["proc_id"]) == (1, 5, "apphost", "myapp", "42")
            assert login["message"] == "user login ok"
            assert login["region"] == "us-east-1" and login["service"] == "myapp"
            assert "parse_error" not in login
            cef = next(r for r in rs if r["is_cef"])
            assert (cef["facility"], cef["severity"]) == (10, 6)
            assert (cef["cef_vendor"], cef["cef_product"], cef["cef_signature_id"], cef["cef_severity"]) == ("Acme", "Firewall", "100", "7")
            assert cef["src"] == "10.1.1.1"
            assert cef["region"] == "us-west-2"
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        log.close()


def metric(d, name, receiver):
    with urllib.request.urlopen(f"http://{d.http}/metrics", timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name) and f'receiver="{receiver}"' in line:
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_unparsable_frames_are_kept_raw_and_counted(syslog_daemon):
    d = syslog_daemon
    host, port = d.fields["syslog_tcp"].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(b"this is not syslog\n")
        framed = b"<13>1 - h app - - - framed"
        s.sendall(str(len(framed)).encode() + b" " + framed)  # octet counted, no LF
        s.sendall(b"\n<13>1 - h app - - [bad sd\n")
    udp_host, udp_port = d.fields["syslog_udp"].rsplit(":", 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.sendto(b"\xff\xfe garbage datagram", (udp_host, int(udp_port)))
    sql = "SELECT source, format, message, parse_error FROM siem ORDER BY source, message"
    wait_until(lambda: len(query(d.data_dir, sql)) >= 4, timeout=30, what="4 siem events")
    rows = query(d.data_dir, sql)
    assert len(rows) == 4, rows
    raw = [r for r in rows if r["format"] == "raw"]
    assert len(raw) == 3
    assert any(r["message"] == "this is not syslog" and "PRI" in r["parse_error"] for r in raw)
    assert any("structured data" in r["parse_error"] for r in raw)
    assert any(r["source"] == "syslog_udp" and "PRI" in r["parse_error"] for r in raw)
    framed = [r for r in rows if r["format"] == "rfc5424"]
    assert framed[0]["message"] == "framed"
    assert metric(d, "cutover_ingest_parse_errors_total", "syslog_tcp") == 2
    assert metric(d, "cutover_ingest_parse_errors_total", "syslog_udp") == 1
    # The daemon still serves.
    with urllib.request.urlopen(f"http://{d.http}/healthz", timeout=10) as r:
        assert r.status == 200


def test_oversized_frame_is_kept_raw_and_the_connection_closed(syslog_daemon):
    d = syslog_daemon
    host, port = d.fields["syslog_tcp"].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(b"<13>1 - h app - - - ok before\n")
        try:
            s.sendall(b"<13>" + b"x" * 300_000)  # no LF within the 256 KiB limit
        except OSError:
            pass  # the daemon may close first
        s.settimeout(10)
        try:
            closed = s.recv(1) == b""
        except ConnectionResetError:
            closed = True
        assert closed
    sql = "SELECT format, length(message) AS n, parse_error FROM siem ORDER BY format DESC"
    wait_until(lambda: len(query(d.data_dir, sql)) >= 2, timeout=30, what="2 siem events")
    rows = query(d.data_dir, sql)
    assert rows[0]["format"] == "rfc5424" and "parse_error" not in rows[0]
    assert rows[1]["format"] == "raw" and "frame longer than" in rows[1]["parse_error"]
    assert rows[1]["n"] <= 256 * 1024
    assert metric(d, "cutover_ingest_parse_errors_total", "syslog_tcp") == 1
