//! `hdr_latency(duration_ms)`: latency percentiles from an HDR histogram, as a SQL aggregate.
//!
//! Precision: each value is rounded to a whole microsecond and recorded in an HDR histogram
//! with [`SIGNIFICANT_DIGITS`] = 3 significant digits. Values below 2.048 ms are kept exactly;
//! above that the histogram has 1024 to 2047 steps per power of two, so a reported value is at
//! most 1/1024 (under 0.1 %) of itself away from the recorded one. A reported percentile is the
//! lowest value of the histogram bucket that holds it, so it never exceeds the true value and
//! equals it whenever the value is a bucket bound (e.g. 10, 20, 30, 40, 60, 80, 120 ms).
//!
//! Percentiles are nearest-rank: the p-th percentile of n values is the value of rank
//! `ceil(p/100 × n)` (at least 1) in ascending order. `max_ms` is the largest value.
//!
//! Inputs: NULL is ignored (as by every SQL aggregate). NaN, ±infinity and negative values
//! (a span that ends before it starts) are not latencies: they are left out of the histogram
//! and counted in `skipped`. −0.0 counts as 0. An empty group gives `count` 0 and NULL
//! percentiles.
//!
//! Partial states: DataFusion aggregates each partition apart and then merges the states. The
//! state is the histogram serialized as bytes: the `skipped` count, then one (value, count)
//! pair per non-empty bucket, all little-endian `u64`. Recording a bucket's value again lands
//! in the same bucket, so merging is exact.

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, Float64Array, Int64Array, StructArray};
use arrow::datatypes::{DataType, Field, FieldRef, Fields, Float64Type};
use datafusion::common::{Result, ScalarValue, exec_err, internal_datafusion_err, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility};
use hdrhistogram::Histogram;

/// Significant decimal digits kept by the histogram.
pub const SIGNIFICANT_DIGITS: u8 = 3;

/// The quantiles reported, with their struct field names.
const QUANTILES: [(&str, f64); 4] = [("p50_ms", 0.5), ("p90_ms", 0.9), ("p99_ms", 0.99), ("p999_ms", 0.999)];

/// What `hdr_latency` reports for one group.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LatencySummary {
    /// Values recorded.
    pub count: u64,
    /// Values left out: NaN, infinite or negative.
    pub skipped: u64,
    /// 50th percentile, ms (`None` when nothing was recorded).
    pub p50_ms: Option<f64>,
    /// 90th percentile, ms.
    pub p90_ms: Option<f64>,
    /// 99th percentile, ms.
    pub p99_ms: Option<f64>,
    /// 99.9th percentile, ms.
    pub p999_ms: Option<f64>,
    /// Largest value, ms.
    pub max_ms: Option<f64>,
}

/// A latency histogram in microseconds, with the count of values it refused.
#[derive(Debug, Clone)]
pub struct LatencyHistogram {
    hist: Histogram<u64>,
    skipped: u64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self::new()
    }
}

impl LatencyHistogram {
    /// An empty histogram (auto-resizing, [`SIGNIFICANT_DIGITS`]).
    pub fn new() -> Self {
        let hist = Histogram::new(SIGNIFICANT_DIGITS).expect("3 significant digits is a valid histogram");
        LatencyHistogram { hist, skipped: 0 }
    }

    /// Records one latency in ms; NaN, infinite and negative values only count as skipped.
    pub fn record_ms(&mut self, ms: f64) {
        if !ms.is_finite() || ms < 0.0 {
            self.skipped += 1;
            return;
        }
        let us = (ms * 1000.0).round() as u64;
        if self.hist.record(us).is_err() {
            self.skipped += 1;
        }
    }

    /// Adds every value of `other` to `self`.
    pub fn merge(&mut self, other: &LatencyHistogram) -> Result<()> {
        self.hist
            .add(&other.hist)
            .map_err(|e| internal_datafusion_err!("hdr_latency: merging histograms: {e}"))?;
        self.skipped += other.skipped;
        Ok(())
    }

    /// Values recorded.
    pub fn count(&self) -> u64 {
        self.hist.len()
    }

    /// The value at quantile `q` (nearest rank) in ms, the lowest value of its bucket.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        (!self.hist.is_empty()).then(|| self.hist.lowest_equivalent(self.hist.value_at_quantile(q)) as f64 / 1000.0)
    }

    /// Count, skipped, percentiles and max.
    pub fn summary(&self) -> LatencySummary {
        LatencySummary {
            count: self.count(),
            skipped: self.skipped,
            p50_ms: self.quantile_ms(0.5),
            p90_ms: self.quantile_ms(0.9),
            p99_ms: self.quantile_ms(0.99),
            p999_ms: self.quantile_ms(0.999),
            max_ms: self.quantile_ms(1.0),
        }
    }

    /// The state bytes (see the module doc).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + 16 * self.hist.distinct_values());
        out.extend_from_slice(&self.skipped.to_le_bytes());
        for v in self.hist.iter_recorded() {
            out.extend_from_slice(&v.value_iterated_to().to_le_bytes());
            out.extend_from_slice(&v.count_at_value().to_le_bytes());
        }
        out
    }

    /// Reads state bytes written by [`LatencyHistogram::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() < 8 || !(bytes.len() - 8).is_multiple_of(16) {
            return exec_err!(
                "hdr_latency: a partial state of {} bytes is not a histogram",
                bytes.len()
            );
        }
        let word = |i: usize| u64::from_le_bytes(bytes[i..i + 8].try_into().expect("8 bytes"));
        let mut h = LatencyHistogram::new();
        h.skipped = word(0);
        for at in (8..bytes.len()).step_by(16) {
            h.hist
                .record_n(word(at), word(at + 8))
                .map_err(|e| internal_datafusion_err!("hdr_latency: reading a partial state: {e}"))?;
        }
        Ok(h)
    }
}

fn result_fields() -> Fields {
    let mut fields = vec![
        Field::new("count", DataType::Int64, false),
        Field::new("skipped", DataType::Int64, false),
    ];
    fields.extend(
        QUANTILES
            .iter()
            .map(|(name, _)| Field::new(*name, DataType::Float64, true)),
    );
    fields.push(Field::new("max_ms", DataType::Float64, true));
    fields.into()
}

/// The `hdr_latency` aggregate.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HdrLatency {
    signature: Signature,
}

/// `hdr_latency` as a DataFusion aggregate, ready to register.
pub fn hdr_latency_udaf() -> AggregateUDF {
    AggregateUDF::from(HdrLatency {
        signature: Signature::exact(vec![DataType::Float64], Volatility::Immutable),
    })
}

impl AggregateUDFImpl for HdrLatency {
    fn name(&self) -> &str {
        "hdr_latency"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        if args != [DataType::Float64] {
            return plan_err!("hdr_latency takes one DOUBLE column of milliseconds, got {args:?}");
        }
        Ok(DataType::Struct(result_fields()))
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(HdrAccumulator::default()))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format!("{}[histogram]", args.name),
            DataType::Binary,
            true,
        ))])
    }
}

/// One group's histogram while DataFusion aggregates.
#[derive(Debug, Default)]
pub struct HdrAccumulator {
    hist: LatencyHistogram,
}

impl HdrAccumulator {
    /// The histogram so far.
    pub fn histogram(&self) -> &LatencyHistogram {
        &self.hist
    }
}

impl Accumulator for HdrAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let Some(col) = values.first().and_then(|c| c.as_primitive_opt::<Float64Type>()) else {
            return exec_err!("hdr_latency: expected one DOUBLE column");
        };
        for v in col.iter().flatten() {
            self.hist.record_ms(v);
        }
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let s = self.hist.summary();
        let f = |v: Option<f64>| Arc::new(Float64Array::from(vec![v])) as ArrayRef;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(vec![s.count as i64])),
            Arc::new(Int64Array::from(vec![s.skipped as i64])),
            f(s.p50_ms),
            f(s.p90_ms),
            f(s.p99_ms),
            f(s.p999_ms),
            f(s.max_ms),
        ];
        let array = StructArray::try_new(result_fields(), columns, None)?;
        Ok(ScalarValue::Struct(Arc::new(array)))
    }

    fn size(&self) -> usize {
        size_of::<Self>() + self.hist.hist.buckets() as usize * 1024 * size_of::<u64>()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![ScalarValue::Binary(Some(self.hist.to_bytes()))])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let Some(col) = states.first().and_then(|c| c.as_binary_opt::<i32>()) else {
            return exec_err!("hdr_latency: expected a BINARY partial state");
        };
        for bytes in col.iter().flatten() {
            self.hist.merge(&LatencyHistogram::from_bytes(bytes)?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::RecordBatch;
    use arrow::datatypes::Schema;
    use datafusion::datasource::MemTable;
    use datafusion::prelude::{SessionConfig, SessionContext};

    fn values(v: &[Option<f64>]) -> Vec<ArrayRef> {
        vec![Arc::new(Float64Array::from(v.to_vec()))]
    }

    #[test]
    fn percentiles_are_nearest_rank_and_odd_inputs_are_skipped() {
        let mut acc = HdrAccumulator::default();
        // 1..=10 ms, plus NULL (ignored), NaN, −5 and +∞ (skipped).
        let mut v: Vec<Option<f64>> = (1..=10).map(|i| Some(i as f64)).collect();
        v.extend([None, Some(f64::NAN), Some(-5.0), Some(f64::INFINITY)]);
        acc.update_batch(&values(&v)).unwrap();
        // ranks: p50 → ceil(5) = 5th, p90 → 9th, p99 → ceil(9.9) = 10th, p99.9 → 10th.
        assert_eq!(
            acc.histogram().summary(),
            LatencySummary {
                count: 10,
                skipped: 3,
                p50_ms: Some(5.0),
                p90_ms: Some(9.0),
                p99_ms: Some(10.0),
                p999_ms: Some(10.0),
                max_ms: Some(10.0),
            }
        );
        // Microsecond resolution below 2.048 ms; above it the bucket's lower bound:
        // 100 ms = 100 000 µs lies in a bucket of width 64 µs starting at 99 968 µs.
        let mut h = LatencyHistogram::new();
        h.record_ms(1.2344);
        assert_eq!(h.quantile_ms(0.5), Some(1.234));
        h = LatencyHistogram::new();
        h.record_ms(100.0);
        assert_eq!(h.quantile_ms(1.0), Some(99.968));
        assert_eq!(LatencyHistogram::new().summary().p50_ms, None);
    }

    #[test]
    fn merged_partial_states_equal_one_pass() {
        let all: Vec<Option<f64>> = (0..500).map(|i| Some((i * 37 % 1000) as f64 * 1.5)).collect();
        let mut whole = HdrAccumulator::default();
        whole.update_batch(&values(&all)).unwrap();
        let (a, b) = all.split_at(123);
        let mut left = HdrAccumulator::default();
        left.update_batch(&values(a)).unwrap();
        left.update_batch(&values(&[Some(f64::NAN)])).unwrap();
        let mut right = HdrAccumulator::default();
        right.update_batch(&values(b)).unwrap();
        let mut merged = HdrAccumulator::default();
        let states: Vec<ScalarValue> = [left.state().unwrap(), right.state().unwrap()].concat();
        let state_array = ScalarValue::iter_to_array(states).unwrap();
        merged.merge_batch(&[state_array]).unwrap();
        let (m, w) = (merged.histogram().summary(), whole.histogram().summary());
        assert_eq!(
            m,
            LatencySummary {
                skipped: 1,
                ..w.clone()
            }
        );
        assert_eq!(m.count, 500);
        // Merging is exact bucket by bucket, so the serialized states agree too.
        merged.hist.skipped = 0;
        assert_eq!(merged.hist.to_bytes(), whole.hist.to_bytes());
        assert!(LatencyHistogram::from_bytes(&[1, 2, 3]).is_err());
    }

    /// Four partitions and four target partitions: DataFusion aggregates partially, then merges.
    #[tokio::test]
    async fn sql_over_several_partitions() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("g", DataType::Utf8, false),
            Field::new("d", DataType::Float64, true),
        ]));
        let parts: Vec<Vec<RecordBatch>> = (0..4)
            .map(|p| {
                let g: Vec<&str> = (0..25).map(|i| if i % 2 == 0 { "a" } else { "b" }).collect();
                let d: Vec<Option<f64>> = (0..25).map(|i| Some((p * 25 + i) as f64 / 100.0)).collect();
                let cols: Vec<ArrayRef> = vec![
                    Arc::new(arrow::array::StringArray::from(g)),
                    Arc::new(Float64Array::from(d)),
                ];
                vec![RecordBatch::try_new(schema.clone(), cols).unwrap()]
            })
            .collect();
        let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(4));
        crate::udf::register(&ctx);
        ctx.register_table("t", Arc::new(MemTable::try_new(schema, parts).unwrap()))
            .unwrap();
        let sql = "SELECT g, h['count'] AS n, h['p50_ms'] AS p50, h['p99_ms'] AS p99, h['max_ms'] AS mx \
                   FROM (SELECT g, hdr_latency(d) AS h FROM t GROUP BY g) ORDER BY g";
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        let b = arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
        let f = |c: usize, r: usize| b.column(c).as_primitive::<Float64Type>().value(r);
        let n = |r: usize| b.column(1).as_primitive::<arrow::datatypes::Int64Type>().value(r);
        // Values (p·25 + i) / 100 ms, exact in microseconds. Group a = even i, 13 per
        // partition, 52 in all; sorted, rank 26 is the 2nd partition's last even i:
        // (25 + 24) / 100 = 0.49; rank ceil(0.99·52) = 52 is (75 + 24) / 100 = 0.99.
        assert_eq!((n(0), f(2, 0), f(3, 0), f(4, 0)), (52, 0.49, 0.99, 0.99));
        // b = odd i: 12 per partition, 48 in all; rank 24 is (25 + 23) / 100; rank 48 (75 + 23) / 100.
        assert_eq!((n(1), f(2, 1), f(3, 1), f(4, 1)), (48, 0.48, 0.98, 0.98));
        // The plan really aggregates in two steps (partial states, then the merge).
        let (two_steps, plan) = crate::udf::aggregates_in_two_steps(&ctx, sql).await;
        assert!(two_steps, "{plan}");
    }
}
