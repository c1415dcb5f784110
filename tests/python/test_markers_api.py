"""The markers API and `cutover mark` record the drill timeline next to OTLP markers."""

import json
import subprocess
import urllib.error
import urllib.request

from conftest import BIN, query


def test_cutover_mark_and_the_api_land_in_markers(daemon):
    endpoint = f"http://{daemon.http}"
    out = subprocess.run([BIN, "mark", "db_promoted", "--region", "us-west-2", "--at", "2026-11-26T10:00:01.250Z",
                          "--attr", "cutover.write.store=orders", "--attr", "cutover.write.last_applied_seq=17",
                          "--endpoint", endpoint], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"kind": "db_promoted", "time": "2026-11-26T10:00:01.250Z", "region": "us-west-2"}
    out = subprocess.run([BIN, "mark", "drill_started", "--endpoint", endpoint], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    rows = query(daemon.data_dir, "SELECT marker, region, source, attributes['cutover.write.last_applied_seq'] AS seq "
                                  "FROM markers ORDER BY marker")
    assert rows == [
        {"marker": "db_promoted", "region": "us-west-2", "source": "markers_api", "seq": "17"},
        {"marker": "drill_started", "region": "default-region", "source": "markers_api"},
    ]
    promos = query(daemon.data_dir, "SELECT store, last_applied_seq FROM promotions")
    assert promos == [{"store": "orders", "last_applied_seq": 17}]


def test_unknown_kind_is_refused_with_the_list(daemon):
    out = subprocess.run([BIN, "mark", "dns_cutovr", "--endpoint", f"http://{daemon.http}"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 2
    assert "400" in out.stderr and "unknown marker kind" in out.stderr and "dns_cutover" in out.stderr
    req = urllib.request.Request(f"http://{daemon.http}/v1/markers", data=b"{not json", method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        urllib.request.urlopen(req, timeout=10)
        raise AssertionError("accepted")
    except urllib.error.HTTPError as e:
        assert e.code == 400
        assert b"invalid marker JSON" in e.read()
    assert query(daemon.data_dir, "SELECT count(*) AS n FROM markers") == [{"n": 0}]
