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
    /// One JSON object per row, one per line.
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
            let mut w = arrow::json::LineDelimitedWriter::new(&mut out);
            for b in batches {
                w.write(b)?;
            }
            w.finish()?;
        }
    }
    Ok(())
}
