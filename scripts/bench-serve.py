#!/usr/bin/env python3
"""Times `cutover serve` on a drill log: time to the ready line and to the first answer after
start, then every provisioned dashboard refreshed as Grafana would refresh it (each panel's
query expanded with Grafana's macros and sent over the simple query protocol), sequentially
and over 10 connections (Grafana's maxOpenConns). Prints per-dashboard medians and the
snapshot build time (what each live refresh recomputes).

    bench-serve.py --bin target/release/cutover --data-dir DIR [--runs 5]

DIR must hold a log and its drill.yaml (`cutover bench --kind analyze --keep` or a demo).
"""

import argparse
import concurrent.futures
import os
import queue
import statistics
import subprocess
import sys
import time
import functools

print = functools.partial(print, flush=True)  # noqa: A001

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "python"))

import psycopg  # noqa: E402

import grafana_macros as gm  # noqa: E402
import test_grafana as tg  # noqa: E402


def start(binary, data_dir, extra):
    t0 = time.monotonic()
    proc = subprocess.Popen([binary, "serve", "--data-dir", data_dir, "--pg-listen", "127.0.0.1:0", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    ready = time.monotonic() - t0
    if not line.startswith("cutover serve ready"):
        proc.kill()
        sys.exit(f"serve did not start: {line!r}")
    fields = dict(w.split("=", 1) for w in line.split()[3:])
    host, port = fields["pg"].rsplit(":", 1)
    info = f"host={host} port={port} user=cutover dbname=cutover sslmode=disable"
    conn = psycopg.connect(info, autocommit=True)
    conn.pgconn.exec_(b"SELECT count(*) FROM report_drills")
    first = time.monotonic() - t0
    return proc, info, conn, ready, first


def environments(conn, dashboards):
    r = tg.simple_query(conn, "SELECT min(time), max(time) FROM markers")
    first, last = (tg.parse_time(v, 1184) for v in r.rows[0])
    t0, t1 = tg._ms(first - tg.timedelta(minutes=5)), tg._ms(last + tg.timedelta(minutes=5))
    out = {}
    for d in dashboards:
        e = tg.Env({}, t0, t1, gm.calculate_interval(t0, t1, tg.PANEL_RESOLUTION, tg.MIN_INTERVAL))
        for v in d["templating"]["list"]:
            values = tg.variable_values(tg.simple_query(conn, e.sql(tg._query_text(v["query"]))))
            if v["multi"] or v["includeAll"]:
                e.variables[v["name"]] = gm.Variable(gm.ALL if v["includeAll"] else [values[0]], multi=v["multi"],
                                                     include_all=v["includeAll"], all_values=values)
            else:
                e.variables[v["name"]] = gm.Variable(values[0])
        out[d["uid"]] = [e.sql(t["rawSql"]) for p in d["panels"] for t in p.get("targets", []) if t.get("rawSql")]
    return out


def timed(conn, sql):
    t = time.monotonic()
    res = conn.pgconn.exec_(sql.encode())
    if res.status != psycopg.pq.ExecStatus.TUPLES_OK:
        raise SystemExit(f"query failed: {(res.error_message or b'').decode()}\n{sql}")
    return time.monotonic() - t


def on_free_connection(free, sql):
    """Runs `sql` on a connection nobody else is using (a libpq connection is not shared)."""
    conn = free.get()
    try:
        return timed(conn, sql)
    finally:
        free.put(conn)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--connections", type=int, default=10)
    ap.add_argument("extra", nargs="*", help="more flags for cutover serve")
    a = ap.parse_args()
    proc, info, conn, ready, first = start(a.bin, a.data_dir, a.extra)
    try:
        status = tg.simple_query(conn, "SELECT records, build_ms FROM serve_status")
        records, build_ms = status.rows[0]
        print(f"records={records} ready_s={ready:.2f} first_answer_s={first:.2f} snapshot_build_s={int(build_ms) / 1000:.2f}")
        envs = environments(conn, [d for _, d in tg.DASHBOARDS])
        pool = [psycopg.connect(info, autocommit=True) for _ in range(a.connections)]
        free = queue.Queue()
        for c in pool:
            free.put(c)
        worst = {}
        for uid, queries in envs.items():
            seq, par = [], []
            for _ in range(a.runs):
                t = time.monotonic()
                for q in queries:
                    d = timed(conn, q)
                    worst[(uid, q[:60])] = max(worst.get((uid, q[:60]), 0), d)
                seq.append(time.monotonic() - t)
                t = time.monotonic()
                with concurrent.futures.ThreadPoolExecutor(len(pool)) as ex:
                    list(ex.map(lambda q: on_free_connection(free, q), queries))
                par.append(time.monotonic() - t)
            print(f"dashboard={uid} panels={len(queries)} refresh_sequential_median_s={statistics.median(seq):.3f} "
                  f"refresh_{len(pool)}conn_median_s={statistics.median(par):.3f}")
        for (uid, q), d in sorted(worst.items(), key=lambda kv: -kv[1])[:5]:
            print(f"slowest_panel dashboard={uid} max_s={d:.3f} sql={q!r}")
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    main()
