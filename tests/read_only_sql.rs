//! `cutover query` runs read-only SQL: DDL, DML, `COPY ... TO` and `SET` are refused with a
//! clear error (exit 2) and change nothing; reads still work.

mod common;

use std::process::{Command, Output};

use common::{Ingest, bin};

fn query(data_dir: &std::path::Path, sql: &str) -> Output {
    Command::new(bin())
        .args(["query", "--no-cache", "--format", "json", "--data-dir"])
        .arg(data_dir)
        .arg(sql)
        .output()
        .unwrap()
}

#[test]
fn query_refuses_statements_that_write_and_still_reads() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Ingest::start(dir.path(), &[]);
    let mark = Command::new(bin())
        .args(["mark", "dns_cutover", "--region", "us-west-2", "--endpoint"])
        .arg(format!("http://{}", daemon.http))
        .output()
        .unwrap();
    assert!(mark.status.success(), "{}", String::from_utf8_lossy(&mark.stderr));
    drop(daemon);

    let out_file = dir.path().join("copied.csv");
    let writes = [
        format!("COPY (SELECT * FROM markers) TO '{}'", out_file.display()),
        format!(
            "CREATE EXTERNAL TABLE leak STORED AS CSV LOCATION '{}'",
            dir.path().join("x.csv").display()
        ),
        "CREATE TABLE t AS SELECT 1".to_string(),
        "CREATE VIEW v AS SELECT 1".to_string(),
        "DROP TABLE markers".to_string(),
        "INSERT INTO markers SELECT * FROM markers".to_string(),
        "SET datafusion.execution.batch_size = 1".to_string(),
    ];
    for sql in &writes {
        let out = query(dir.path(), sql);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{sql}: {err}");
        assert!(err.contains("only read-only SQL is allowed"), "{sql}: {err}");
    }
    assert!(!out_file.exists(), "COPY wrote a file");

    let out = query(dir.path(), "SELECT marker, region FROM markers");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(r#""marker":"dns_cutover""#) && text.contains(r#""region":"us-west-2""#),
        "{text}"
    );
    for read in [
        "EXPLAIN SELECT count(*) FROM spans",
        "WITH x AS (SELECT 1 AS a) SELECT a FROM x",
    ] {
        let out = query(dir.path(), read);
        assert!(out.status.success(), "{read}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn errors_read_once_and_json_keeps_non_finite_numbers_and_maps() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Ingest::start(dir.path(), &[]);
    let mark = Command::new(bin())
        .args(["mark", "fault_injected", "--region", "us-east-1", "--attr", "why=test"])
        .arg("--endpoint")
        .arg(format!("http://{}", daemon.http))
        .output()
        .unwrap();
    assert!(mark.status.success(), "{}", String::from_utf8_lossy(&mark.stderr));
    drop(daemon);

    // A syntax error and an unknown column: DataFusion's message once, no Rust debug text.
    let out = query(dir.path(), "SELEC 1");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.matches("found: SELEC").count(), 1, "{err}");
    assert!(err.starts_with("error: query failed: SQL syntax error: "), "{err}");
    assert!(!err.contains("ParserError("), "{err}");
    let out = query(dir.path(), "SELECT nope FROM markers");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("No field named nope").count(), 1, "{err}");
    // A missing log: the path once.
    let missing = dir.path().join("nothing-here");
    let out = query(&missing, "SELECT 1");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("nothing-here").count(), 1, "{err}");

    // NaN and ±Inf are strings, null is left out, numbers stay numbers.
    let out = query(
        dir.path(),
        "SELECT CAST('NaN' AS DOUBLE) AS nan, CAST('inf' AS DOUBLE) AS pos, CAST('-inf' AS DOUBLE) AS neg, \
         1.5 AS x, CAST(NULL AS DOUBLE) AS missing, 'a' AS s",
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "{\"nan\":\"NaN\",\"pos\":\"+Inf\",\"neg\":\"-Inf\",\"x\":1.5,\"s\":\"a\"}\n"
    );
    // The documented ways to read an attribute map (map_entries used to panic).
    for (sql, want) in [
        ("SELECT attributes['why'] AS v FROM markers", "{\"v\":\"test\"}\n"),
        (
            "SELECT array_to_string(map_keys(attributes), ',') AS v FROM markers",
            "{\"v\":\"cutover.marker,why\"}\n",
        ),
        (
            "SELECT map_entries(attributes)[2] AS v FROM markers",
            "{\"v\":{\"key\":\"why\",\"value\":\"test\"}}\n",
        ),
    ] {
        let out = query(dir.path(), sql);
        assert!(out.status.success(), "{sql}: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stdout), want, "{sql}");
    }
}
