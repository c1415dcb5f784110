#!/usr/bin/env python3
"""Times the analyzer's two core queries in DuckDB beside DataFusion.

Input: the Arrow IPC files written by `cutover bench --kind analyze --export-dir DIR`
(spans, metric_points, logs) and the outputs of one or more `cutover bench --kind analyze`
runs (their last line: key=value figures). The script converts the IPC files to Parquet with
pyarrow, runs each query three times in DuckDB (over the Parquet files, and over tables loaded
into DuckDB's memory) and prints the medians beside the DataFusion medians, with the ratio.

The queries are the same definitions as `LATENCY_SQL` and `GAPS_SQL` in
`src/bench_analyze/mod.rs`, in DuckDB's dialect (time_bucket on microseconds for date_bin, quantile_cont for
percentile_cont, epoch_ns for a cast to BIGINT).

Usage: scripts/bench-duckdb.py --export-dir DIR --bench-out run1.txt [--bench-out run2.txt ...]
"""

import argparse
import math
import os
import statistics
import sys
import time

import duckdb
import pyarrow.feather
import pyarrow.parquet

TABLES = ["spans", "metric_points", "logs"]

LATENCY_SQL = """
SELECT region, service,
       time_bucket(INTERVAL '10 seconds', CAST(start_time AS TIMESTAMPTZ)) AS window_start,
       COUNT(*) AS requests,
       quantile_cont(duration_ms, 0.5) AS p50_ms,
       quantile_cont(duration_ms, 0.9) AS p90_ms,
       quantile_cont(duration_ms, 0.99) AS p99_ms,
       MAX(duration_ms) AS max_ms
FROM spans
WHERE service = 'frontend' AND kind = 'server'
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3
"""

GAPS_SQL = """
WITH ev AS (
    SELECT region, service, 'span' AS signal, epoch_ns(start_time) AS t FROM spans
    UNION ALL
    SELECT region, service, 'metric:' || name AS signal, epoch_ns(time) AS t FROM metric_points
    UNION ALL
    SELECT region, service, 'log' AS signal, epoch_ns(time) AS t FROM logs
), d AS (
    SELECT region, service, signal, t, LAG(t) OVER (PARTITION BY region, service, signal ORDER BY t) AS prev
    FROM (SELECT DISTINCT region, service, signal, t FROM ev) arrivals
), iv AS (
    SELECT region, service, signal, prev AS gap_start, t AS gap_end, (t - prev) / 1e9 AS seconds
    FROM d WHERE prev IS NOT NULL
), cadence AS (
    SELECT region, service, signal, median(seconds) AS cadence_seconds FROM iv GROUP BY 1, 2, 3
)
SELECT iv.region, iv.service, iv.signal, iv.gap_start, iv.gap_end, iv.seconds, c.cadence_seconds
FROM iv JOIN cadence c ON iv.region = c.region AND iv.service = c.service AND iv.signal = c.signal
WHERE iv.seconds > 3 * c.cadence_seconds
ORDER BY 1, 2, 3, 4
"""


def to_parquet(export_dir, parquet_dir):
    os.makedirs(parquet_dir, exist_ok=True)
    started = time.perf_counter()
    for name in TABLES:
        table = pyarrow.feather.read_table(os.path.join(export_dir, f"{name}.arrow"))
        pyarrow.parquet.write_table(table, os.path.join(parquet_dir, f"{name}.parquet"))
    return time.perf_counter() - started


def time_query(con, sql, runs):
    times, rows = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        result = con.sql(sql).to_arrow_table()
        times.append(time.perf_counter() - started)
        rows = result.num_rows
    return statistics.median(times), rows


def bench_out(paths):
    """Medians of every key=value figure over the bench outputs."""
    runs = []
    for path in paths:
        with open(path) as f:
            lines = [line for line in f.read().splitlines() if line.startswith("events=")]
        if not lines:
            sys.exit(f"{path}: no 'events=' line from cutover bench")
        runs.append(dict(kv.split("=", 1) for kv in lines[-1].split()))
    keys = runs[0].keys()
    # Runs with --sql-runs 0 print nan for the DataFusion query figures: left out.
    medians = {}
    for k in keys:
        values = [float(r[k]) for r in runs if not math.isnan(float(r[k]))]
        if values:
            medians[k] = statistics.median(values)
    # Only the run that wrote the log has a generation time.
    medians["generate_s"] = max(float(r["generate_s"]) for r in runs)
    return medians, len(runs)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--export-dir", required=True, help="Arrow IPC files from cutover bench --export-dir")
    ap.add_argument("--parquet-dir", help="where to write the Parquet files (default: EXPORT_DIR/parquet)")
    ap.add_argument("--bench-out", action="append", default=[], help="stdout of a cutover bench run (repeatable)")
    ap.add_argument("--runs", type=int, default=3, help="runs per query (median reported)")
    args = ap.parse_args()
    parquet_dir = args.parquet_dir or os.path.join(args.export_dir, "parquet")

    convert_s = to_parquet(args.export_dir, parquet_dir)
    print(f"parquet: wrote {', '.join(TABLES)} in {convert_s:.1f} s to {parquet_dir}")
    print(f"duckdb {duckdb.__version__}, pyarrow {pyarrow.__version__}, threads: default")

    on_files = duckdb.connect()
    in_memory = duckdb.connect()
    started = time.perf_counter()
    for name in TABLES:
        path = os.path.join(parquet_dir, f"{name}.parquet")
        on_files.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{path}')")
        in_memory.execute(f"CREATE TABLE {name} AS SELECT * FROM read_parquet('{path}')")
    load_s = time.perf_counter() - started
    print(f"duckdb: loaded the Parquet files into memory in {load_s:.1f} s")

    results = {}
    for label, sql in [("latency", LATENCY_SQL), ("gaps", GAPS_SQL)]:
        results[label] = (time_query(in_memory, sql, args.runs), time_query(on_files, sql, args.runs))

    rust, n = bench_out(args.bench_out) if args.bench_out else ({}, 0)
    if rust:
        print(f"\ncutover bench, medians of {n} runs ({int(rust['events'])} events):")
        for k in ["generate_s", "replay_s", "measure_s", "total_s", "rerun_replay_s", "rerun_measure_s",
                  "rerun_total_s", "peak_rss_mib"]:
            print(f"  {k:16} {rust[k]:10.2f}")
    print(f"\n| query | rows | DataFusion (memory) s | DuckDB (memory) s | DuckDB (Parquet) s | DataFusion / DuckDB (memory) |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, ((mem_s, rows), (file_s, _)) in results.items():
        df = rust.get(f"df_{label}_s")
        df_text = f"{df:.3f}" if df is not None else "n/a"
        ratio = f"{df / mem_s:.2f}" if df is not None else "n/a"
        print(f"| {label} | {rows} | {df_text} | {mem_s:.3f} | {file_s:.3f} | {ratio} |")
        df_rows = rust.get(f"df_{label}_rows")
        if df_rows is not None and int(df_rows) != rows:
            print(f"warning: {label}: DataFusion returned {int(df_rows)} rows, DuckDB {rows}")


if __name__ == "__main__":
    main()
