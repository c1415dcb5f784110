//! The one way the analyzer reads query results: by column name, strictly. A column that is
//! missing, or of another type than the reader expects, is an error naming the column (a query
//! and the code reading it disagree), never a silent empty string or zero; a SQL NULL is
//! `None`. [`crate::Analyzer::sql`] has already checked a registered query's columns against
//! its declaration ([`crate::queries::Query::columns`]).

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::compute::{cast, concat_batches};
use arrow::datatypes::{DataType, Float64Type, Int64Type, TimestampNanosecondType, UInt64Type};

use crate::{AnalyzeError, Analyzer};

fn internal(e: impl std::fmt::Display) -> AnalyzeError {
    AnalyzeError::Internal(e.to_string())
}

/// All batches of a result as one, `None` when it has no row.
pub(crate) fn one(batches: Vec<RecordBatch>) -> Result<Option<RecordBatch>, AnalyzeError> {
    let Some(first) = batches.first() else {
        return Ok(None);
    };
    let b = concat_batches(&first.schema(), &batches).map_err(internal)?;
    Ok((b.num_rows() > 0).then_some(b))
}

fn column<'a>(b: &'a RecordBatch, col: &str) -> Result<&'a ArrayRef, AnalyzeError> {
    b.column_by_name(col)
        .ok_or_else(|| internal(format!("query result has no column {col}")))
}

fn wrong(col: &str, c: &ArrayRef, want: &str) -> AnalyzeError {
    internal(format!("query column {col} is {}, not {want}", c.data_type()))
}

/// A timestamp column's value, ns since the epoch.
pub(crate) fn ts_at(b: &RecordBatch, col: &str, row: usize) -> Result<Option<i64>, AnalyzeError> {
    let c = column(b, col)?;
    let a = c
        .as_primitive_opt::<TimestampNanosecondType>()
        .ok_or_else(|| wrong(col, c, "a timestamp (ns)"))?;
    Ok((!a.is_null(row)).then(|| a.value(row)))
}

/// A `BIGINT` column's value.
pub(crate) fn int_at(b: &RecordBatch, col: &str, row: usize) -> Result<Option<i64>, AnalyzeError> {
    let c = column(b, col)?;
    let a = c
        .as_primitive_opt::<Int64Type>()
        .ok_or_else(|| wrong(col, c, "BIGINT"))?;
    Ok((!a.is_null(row)).then(|| a.value(row)))
}

/// A count column's value (`BIGINT` or `BIGINT UNSIGNED`; a negative count reads as 0).
pub(crate) fn u64_at(b: &RecordBatch, col: &str, row: usize) -> Result<Option<u64>, AnalyzeError> {
    let c = column(b, col)?;
    if c.is_null(row) {
        return Ok(None);
    }
    if let Some(a) = c.as_primitive_opt::<Int64Type>() {
        return Ok(Some(a.value(row).max(0) as u64));
    }
    let a = c
        .as_primitive_opt::<UInt64Type>()
        .ok_or_else(|| wrong(col, c, "BIGINT"))?;
    Ok(Some(a.value(row)))
}

/// A `DOUBLE` column's value (a `BIGINT` column reads as a number too).
pub(crate) fn f64_at(b: &RecordBatch, col: &str, row: usize) -> Result<Option<f64>, AnalyzeError> {
    let c = column(b, col)?;
    if c.is_null(row) {
        return Ok(None);
    }
    if let Some(a) = c.as_primitive_opt::<Float64Type>() {
        return Ok(Some(a.value(row)));
    }
    let a = c
        .as_primitive_opt::<Int64Type>()
        .ok_or_else(|| wrong(col, c, "DOUBLE"))?;
    Ok(Some(a.value(row) as f64))
}

/// A text column's value.
pub(crate) fn str_at(b: &RecordBatch, col: &str, row: usize) -> Result<Option<String>, AnalyzeError> {
    let c = column(b, col)?;
    if c.is_null(row) {
        return Ok(None);
    }
    if let Some(a) = c.as_string_opt::<i32>() {
        return Ok(Some(a.value(row).to_string()));
    }
    let a = c.as_string_view_opt().ok_or_else(|| wrong(col, c, "text"))?;
    Ok(Some(a.value(row).to_string()))
}

/// A `BOOLEAN` column's value.
pub(crate) fn bool_at(b: &RecordBatch, col: &str, row: usize) -> Result<Option<bool>, AnalyzeError> {
    let c = column(b, col)?;
    let a = c.as_boolean_opt().ok_or_else(|| wrong(col, c, "BOOLEAN"))?;
    Ok((!a.is_null(row)).then(|| a.value(row)))
}

/// The rows of one query, as one batch (none when the query returned no batch), read a whole
/// column at a time.
pub(crate) struct Rows(Option<RecordBatch>);

impl Rows {
    /// Runs `sql` and collects its rows.
    pub(crate) async fn query<Q: crate::queries::AsSql + ?Sized>(
        analyzer: &Analyzer,
        sql: &Q,
    ) -> Result<Rows, AnalyzeError> {
        Ok(Rows(one(analyzer.sql(sql).await?)?))
    }

    /// No rows.
    pub(crate) fn empty() -> Rows {
        Rows(None)
    }

    /// Number of rows.
    pub(crate) fn len(&self) -> usize {
        self.0.as_ref().map_or(0, RecordBatch::num_rows)
    }

    /// Column `name` cast to `to`; a missing column is a bug in the query.
    fn column(&self, name: &str, to: &DataType) -> Result<Option<ArrayRef>, AnalyzeError> {
        let Some(b) = &self.0 else { return Ok(None) };
        Ok(Some(cast(column(b, name)?, to).map_err(internal)?))
    }

    /// Integers (and timestamps as ns since the epoch).
    pub(crate) fn i64s(&self, name: &str) -> Result<Vec<Option<i64>>, AnalyzeError> {
        let Some(c) = self.column(name, &DataType::Int64)? else {
            return Ok(Vec::new());
        };
        let a = c.as_primitive::<Int64Type>();
        Ok((0..a.len()).map(|i| (!a.is_null(i)).then(|| a.value(i))).collect())
    }

    /// Counts: non-negative integers, null as 0.
    pub(crate) fn u64s(&self, name: &str) -> Result<Vec<u64>, AnalyzeError> {
        Ok(self
            .i64s(name)?
            .into_iter()
            .map(|v| v.unwrap_or(0).max(0) as u64)
            .collect())
    }

    /// Numbers.
    pub(crate) fn f64s(&self, name: &str) -> Result<Vec<Option<f64>>, AnalyzeError> {
        let Some(c) = self.column(name, &DataType::Float64)? else {
            return Ok(Vec::new());
        };
        let a = c.as_primitive::<Float64Type>();
        Ok((0..a.len()).map(|i| (!a.is_null(i)).then(|| a.value(i))).collect())
    }

    /// Text.
    pub(crate) fn strs(&self, name: &str) -> Result<Vec<Option<String>>, AnalyzeError> {
        let Some(c) = self.column(name, &DataType::Utf8)? else {
            return Ok(Vec::new());
        };
        let a = c.as_string::<i32>();
        Ok((0..a.len())
            .map(|i| (!a.is_null(i)).then(|| a.value(i).to_string()))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, RecordBatch, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn batch() -> RecordBatch {
        let schema = Schema::new(vec![
            Field::new("n", DataType::Int64, true),
            Field::new("s", DataType::Utf8, true),
        ]);
        RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(Int64Array::from(vec![Some(7), None])),
                Arc::new(StringArray::from(vec![Some("x"), None])),
            ],
        )
        .unwrap()
    }

    #[test]
    fn a_missing_or_mistyped_column_is_an_error_and_null_is_none() {
        let b = batch();
        assert_eq!(int_at(&b, "n", 0).unwrap(), Some(7));
        assert_eq!(int_at(&b, "n", 1).unwrap(), None);
        assert_eq!(u64_at(&b, "n", 0).unwrap(), Some(7));
        assert_eq!(f64_at(&b, "n", 0).unwrap(), Some(7.0));
        assert_eq!(str_at(&b, "s", 0).unwrap().as_deref(), Some("x"));
        assert_eq!(str_at(&b, "s", 1).unwrap(), None);
        let missing = int_at(&b, "renamed", 0).unwrap_err().to_string();
        assert!(missing.contains("no column renamed"), "{missing}");
        let mistyped = ts_at(&b, "n", 0).unwrap_err().to_string();
        assert!(mistyped.contains("column n is Int64, not a timestamp"), "{mistyped}");
        assert!(str_at(&b, "n", 0).is_err());
        assert!(bool_at(&b, "s", 0).is_err());
    }
}
