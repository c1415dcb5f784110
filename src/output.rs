//! Printing query results as a table, CSV or JSON lines.

use arrow::array::RecordBatch;
use clap::ValueEnum;

/// Output formats of `cutover query`.
#[derive(Clone, Copy, ValueEnum)]
pub enum QueryFormat {
    /// Aligned text table.
    Table,
    /// CSV with a header row.
    Csv,
    /// One JSON object per row, one per line; null values are left out, and NaN, +Inf and -Inf
    /// of a float column (Prometheus staleness markers are NaN) are the strings "NaN", "+Inf"
    /// and "-Inf" (inside list and struct columns they stay null).
    Json,
}

/// Writes `batches` to stdout.
pub fn print(batches: &[RecordBatch], format: QueryFormat) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match format {
        QueryFormat::Table => {
            use std::io::Write;
            writeln!(out, "{}", arrow::util::pretty::pretty_format_batches(batches)?)?;
        }
        QueryFormat::Csv => {
            let mut w = arrow::csv::WriterBuilder::new().with_header(true).build(&mut out);
            for b in batches {
                w.write(b)?;
            }
        }
        QueryFormat::Json => {
            for b in batches {
                json_lines(b, &mut out)?;
            }
        }
    }
    Ok(())
}

/// JSON text of a float that JSON numbers cannot carry.
fn non_finite(v: f64) -> Option<&'static str> {
    if v.is_nan() {
        Some("NaN")
    } else if v == f64::INFINITY {
        Some("+Inf")
    } else if v == f64::NEG_INFINITY {
        Some("-Inf")
    } else {
        None
    }
}

/// The float columns of `b` as f64 arrays (None for other columns).
fn float_columns(b: &RecordBatch) -> Vec<Option<arrow::array::Float64Array>> {
    use arrow::datatypes::DataType;
    b.columns()
        .iter()
        .map(|c| match c.data_type() {
            DataType::Float16 | DataType::Float32 | DataType::Float64 => arrow::compute::cast(c, &DataType::Float64)
                .ok()
                .map(|a| arrow::array::AsArray::as_primitive::<arrow::datatypes::Float64Type>(&a).clone()),
            _ => None,
        })
        .collect()
}

/// Writes `b` as JSON lines. Arrow's writer turns NaN and ±Inf into null; when a float column
/// holds one, the rows are rewritten with the strings of [`non_finite`] in their place.
fn json_lines(b: &RecordBatch, out: &mut impl std::io::Write) -> anyhow::Result<()> {
    use arrow::array::Array;
    let floats = float_columns(b);
    let special =
        |c: &arrow::array::Float64Array, row: usize| (!c.is_null(row)).then(|| non_finite(c.value(row))).flatten();
    let any = floats
        .iter()
        .flatten()
        .any(|c| (0..c.len()).any(|row| special(c, row).is_some()));
    if !any {
        let mut w = arrow::json::LineDelimitedWriter::new(out);
        w.write(b)?;
        w.finish()?;
        return Ok(());
    }
    let mut buf = Vec::new();
    {
        let mut w = arrow::json::WriterBuilder::new()
            .with_explicit_nulls(true)
            .build::<_, arrow::json::writer::LineDelimited>(&mut buf);
        w.write(b)?;
        w.finish()?;
    }
    let schema = b.schema();
    for (row, line) in buf.split(|c| *c == b'\n').filter(|l| !l.is_empty()).enumerate() {
        let mut obj: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(line)?;
        let mut fields = Vec::new();
        for (i, f) in schema.fields().iter().enumerate() {
            let value = match floats[i].as_ref().and_then(|c| special(c, row)) {
                Some(text) => serde_json::Value::String(text.to_string()),
                None => obj.remove(f.name()).unwrap_or(serde_json::Value::Null),
            };
            if !value.is_null() {
                fields.push(format!("{}:{}", serde_json::to_string(f.name())?, value));
            }
        }
        writeln!(out, "{{{}}}", fields.join(","))?;
    }
    Ok(())
}
