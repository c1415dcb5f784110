//! The telemetry-gap definitions of `measures::gaps` as SQL functions over one stream's event
//! times.
//!
//! - `stream_times(t)` (aggregate) → the group's distinct event times, sorted ascending, as a
//!   list of timestamps (nulls left out). It collects the times per group and sorts each group
//!   once at the end, so a stream's steps need no window function over the whole log. The
//!   `stream_times` view keeps its result, so the gap queries below work on one row per
//!   stream.
//! - `stream_profile(times)` → struct `times` (count of distinct times), `first_at`,
//!   `last_at` (null for an empty list) and `inferred_cadence_ns`: the median of the steps
//!   between consecutive times as a DOUBLE (the mean of the two middle steps for an even
//!   count; null with fewer than two times).
//! - `stream_gaps(times, cadence_ns, gap_factor, min_gap_ns, min_events, data_end)` → a list
//!   of structs `start_at`, `end_at` (null for an open gap), `silence_ns`, by start. A stream
//!   with fewer than `min_events` times has no gaps. Its threshold (ns, DOUBLE) is
//!   `gap_factor × cadence_ns` when `cadence_ns` > 0, else `gap_factor ×` the inferred cadence,
//!   and never below `min_gap_ns`. A gap is a step longer than the threshold (start = the time
//!   before, end = the time after), and the silence from the last time to `data_end` when it
//!   is longer than the threshold (an open gap).
//! - `last_before(times, at)` → the last time strictly before `at`; `first_from(times, at)` →
//!   the first time at or after `at` (null when there is none).
//!
//! `times` must be sorted and distinct, as `stream_times` makes it; the scalar functions rely
//! on it (binary search, steps).
//!
//! Partial states of `stream_times` (DataFusion aggregates each partition apart, then
//! merges): the group's times as a list of BIGINT, unsorted; merging appends, so the result
//! does not depend on how the rows were split.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array, Int64Builder, ListArray, ListBuilder,
    PrimitiveArray, StructArray,
};
use arrow::buffer::{OffsetBuffer, ScalarBuffer};
use arrow::datatypes::{DataType, Field, FieldRef, Fields, Float64Type, Int64Type, TimeUnit, TimestampNanosecondType};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, ColumnarValue, EmitTo, GroupsAccumulator, ScalarFunctionArgs,
    ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

/// What `stream_profile` reports for one stream.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Profile {
    /// Distinct times.
    pub times: i64,
    /// First time (ns).
    pub first_at: Option<i64>,
    /// Last time (ns).
    pub last_at: Option<i64>,
    /// Median step between consecutive distinct times (ns).
    pub inferred_cadence_ns: Option<f64>,
}

/// One gap of a stream, ns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamGap {
    /// The time before the silence.
    pub start_at: i64,
    /// The time after it; `None` for an open gap.
    pub end_at: Option<i64>,
    /// Its length (to `data_end` for an open gap).
    pub silence_ns: i64,
}

/// The constant arguments of `stream_gaps`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GapRule {
    /// Multiplier of the cadence.
    pub gap_factor: f64,
    /// Floor of the threshold, ns.
    pub min_gap_ns: i64,
    /// Streams with fewer distinct times are not checked.
    pub min_events: i64,
    /// End of the data, ns (open gaps are measured to it).
    pub data_end: i64,
}

/// `times` sorted, without duplicates (what `stream_times` returns).
pub fn distinct_sorted(mut times: Vec<i64>) -> Vec<i64> {
    times.sort_unstable();
    times.dedup();
    times
}

fn median(mut steps: Vec<i64>) -> Option<f64> {
    let n = steps.len();
    if n == 0 {
        return None;
    }
    let (low, mid, _) = steps.select_nth_unstable(n / 2);
    let mid = *mid as f64;
    if n % 2 == 1 {
        return Some(mid);
    }
    let below = *low.iter().max().expect("an even count ≥ 2 leaves a lower half") as f64;
    Some((below + mid) / 2.0)
}

/// `stream_profile` of sorted distinct `times`.
pub fn profile(times: &[i64]) -> Profile {
    Profile {
        times: times.len() as i64,
        first_at: times.first().copied(),
        last_at: times.last().copied(),
        inferred_cadence_ns: median(times.windows(2).map(|w| w[1] - w[0]).collect()),
    }
}

/// `stream_gaps` of sorted distinct `times`.
pub fn gaps(times: &[i64], cadence_ns: i64, rule: &GapRule) -> Vec<StreamGap> {
    let p = profile(times);
    if p.times < rule.min_events {
        return Vec::new();
    }
    let from_cadence = if cadence_ns > 0 {
        Some(rule.gap_factor * cadence_ns as f64)
    } else {
        p.inferred_cadence_ns.map(|c| rule.gap_factor * c)
    };
    let floor = rule.min_gap_ns as f64;
    let threshold = from_cadence.map_or(floor, |t| t.max(floor));
    let mut out: Vec<StreamGap> = times
        .windows(2)
        .filter(|w| (w[1] - w[0]) as f64 > threshold)
        .map(|w| StreamGap {
            start_at: w[0],
            end_at: Some(w[1]),
            silence_ns: w[1] - w[0],
        })
        .collect();
    if let Some(last) = p.last_at {
        let silence = rule.data_end - last;
        if silence as f64 > threshold {
            out.push(StreamGap {
                start_at: last,
                end_at: None,
                silence_ns: silence,
            });
        }
    }
    out
}

/// The last of sorted `times` strictly before `at`.
pub fn last_before(times: &[i64], at: i64) -> Option<i64> {
    let i = times.partition_point(|&t| t < at);
    i.checked_sub(1).map(|i| times[i])
}

/// The first of sorted `times` at or after `at`.
pub fn first_from(times: &[i64], at: i64) -> Option<i64> {
    times.get(times.partition_point(|&t| t < at)).copied()
}

fn ts_type(tz: &Option<Arc<str>>) -> DataType {
    DataType::Timestamp(TimeUnit::Nanosecond, tz.clone())
}

fn times_type(tz: &Option<Arc<str>>) -> DataType {
    DataType::List(Arc::new(Field::new("item", ts_type(tz), true)))
}

fn profile_fields(tz: &Option<Arc<str>>) -> Fields {
    vec![
        Field::new("times", DataType::Int64, false),
        Field::new("first_at", ts_type(tz), true),
        Field::new("last_at", ts_type(tz), true),
        Field::new("inferred_cadence_ns", DataType::Float64, true),
    ]
    .into()
}

fn gap_fields(tz: &Option<Arc<str>>) -> Fields {
    vec![
        Field::new("start_at", ts_type(tz), false),
        Field::new("end_at", ts_type(tz), true),
        Field::new("silence_ns", DataType::Int64, false),
    ]
    .into()
}

fn gap_list_type(tz: &Option<Arc<str>>) -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::Struct(gap_fields(tz)), true)))
}

fn timestamps(values: Vec<Option<i64>>, tz: &Option<Arc<str>>) -> ArrayRef {
    Arc::new(PrimitiveArray::<TimestampNanosecondType>::from(values).with_timezone_opt(tz.clone()))
}

// ---------------------------------------------------------------------------------------
// stream_times (aggregate)

/// The `stream_times` aggregate.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StreamTimes {
    signature: Signature,
}

/// `stream_times` as a DataFusion aggregate, ready to register.
pub fn stream_times_udaf() -> AggregateUDF {
    AggregateUDF::from(StreamTimes {
        signature: Signature::user_defined(Volatility::Immutable),
    })
}

fn aggregate_tz(args: &[DataType]) -> Result<Option<Arc<str>>> {
    match args {
        [DataType::Timestamp(TimeUnit::Nanosecond, tz)] => Ok(tz.clone()),
        _ => plan_err!("stream_times takes one TIMESTAMP (ns) column, got {args:?}"),
    }
}

impl AggregateUDFImpl for StreamTimes {
    fn name(&self) -> &str {
        "stream_times"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        Ok(vec![ts_type(&aggregate_tz(args)?)])
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        Ok(times_type(&aggregate_tz(args)?))
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(OneStream(TimeGroups::new(&args))))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format!("{}[times]", args.name),
            DataType::List(Arc::new(Field::new("item", DataType::Int64, true))),
            true,
        ))])
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(TimeGroups::new(&args)))
    }
}

/// Every group's times while DataFusion aggregates.
#[derive(Debug)]
struct TimeGroups {
    tz: Option<Arc<str>>,
    /// Per group: its times so far, unsorted, with duplicates.
    times: Vec<Vec<i64>>,
}

impl TimeGroups {
    fn new(args: &AccumulatorArgs) -> TimeGroups {
        let tz = match args.return_field.data_type() {
            DataType::List(item) => match item.data_type() {
                DataType::Timestamp(_, tz) => tz.clone(),
                _ => None,
            },
            _ => None,
        };
        TimeGroups { tz, times: Vec::new() }
    }

    fn grow(&mut self, total: usize) {
        if self.times.len() < total {
            self.times.resize_with(total, Vec::new);
        }
    }

    fn update(
        &mut self,
        values: &[ArrayRef],
        groups: &[usize],
        filter: Option<&BooleanArray>,
        total: usize,
    ) -> Result<()> {
        self.grow(total);
        let Some(t) = values
            .first()
            .and_then(|c| c.as_primitive_opt::<TimestampNanosecondType>())
        else {
            return exec_err!("stream_times: expected a TIMESTAMP (ns) column");
        };
        for (row, &g) in groups.iter().enumerate() {
            if filter.is_some_and(|f| f.is_null(row) || !f.value(row)) || t.is_null(row) {
                continue;
            }
            self.times[g].push(t.value(row));
        }
        Ok(())
    }

    fn merge(&mut self, states: &[ArrayRef], groups: &[usize], total: usize) -> Result<()> {
        self.grow(total);
        let Some(lists) = states.first().and_then(|c| c.as_list_opt::<i32>()) else {
            return exec_err!("stream_times: expected a list partial state");
        };
        for (row, &g) in groups.iter().enumerate() {
            if lists.is_null(row) {
                continue;
            }
            let values = lists.value(row);
            let Some(values) = values.as_primitive_opt::<Int64Type>() else {
                return exec_err!("stream_times: the partial state holds no BIGINT times");
            };
            self.times[g].extend(values.iter().flatten());
        }
        Ok(())
    }

    fn evaluate_groups(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let groups = emit_to.take_needed(&mut self.times);
        let mut offsets = vec![0i32];
        let mut all = Vec::with_capacity(groups.iter().map(Vec::len).sum());
        for g in groups {
            all.extend(distinct_sorted(g));
            offsets.push(i32::try_from(all.len()).map_err(|_| {
                datafusion::common::DataFusionError::Execution("stream_times: more than 2^31 times".into())
            })?);
        }
        let values = PrimitiveArray::<TimestampNanosecondType>::from(all).with_timezone_opt(self.tz.clone());
        let list = ListArray::try_new(
            Arc::new(Field::new("item", ts_type(&self.tz), true)),
            OffsetBuffer::new(ScalarBuffer::from(offsets)),
            Arc::new(values),
            None,
        )?;
        Ok(Arc::new(list))
    }

    fn state_groups(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let groups = emit_to.take_needed(&mut self.times);
        let mut list = ListBuilder::new(Int64Builder::with_capacity(groups.iter().map(Vec::len).sum()));
        for t in groups {
            list.values().append_slice(&t);
            list.append(true);
        }
        Ok(vec![Arc::new(list.finish())])
    }

    fn bytes(&self) -> usize {
        size_of::<Self>()
            + self
                .times
                .iter()
                .map(|t| t.capacity() * size_of::<i64>())
                .sum::<usize>()
            + self.times.capacity() * size_of::<Vec<i64>>()
    }
}

impl GroupsAccumulator for TimeGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.update(values, group_indices, opt_filter, total_num_groups)
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        self.evaluate_groups(emit_to)
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        self.state_groups(emit_to)
    }

    fn merge_batch(&mut self, values: &[ArrayRef], group_indices: &[usize], total_num_groups: usize) -> Result<()> {
        self.merge(values, group_indices, total_num_groups)
    }

    fn convert_to_state(&self, values: &[ArrayRef], opt_filter: Option<&BooleanArray>) -> Result<Vec<ArrayRef>> {
        // Each row as its own group: a one-time list (empty when filtered out or null).
        let rows = values.first().map_or(0, |v| v.len());
        let mut one = TimeGroups {
            tz: self.tz.clone(),
            times: Vec::new(),
        };
        let groups: Vec<usize> = (0..rows).collect();
        one.update(values, &groups, opt_filter, rows)?;
        one.state_groups(EmitTo::All)
    }

    fn size(&self) -> usize {
        self.bytes()
    }
}

/// The same aggregate without grouping (one group, index 0).
#[derive(Debug)]
struct OneStream(TimeGroups);

impl Accumulator for OneStream {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let rows = values.first().map_or(0, |v| v.len());
        self.0.update(values, &vec![0; rows], None, 1)
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        self.0.grow(1);
        let array = self.0.evaluate_groups(EmitTo::All)?;
        self.0.grow(1);
        ScalarValue::try_from_array(&array, 0)
    }

    fn size(&self) -> usize {
        self.0.bytes()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        self.0.grow(1);
        let arrays = self.0.state_groups(EmitTo::All)?;
        self.0.grow(1);
        arrays.iter().map(|a| ScalarValue::try_from_array(a, 0)).collect()
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let rows = states.first().map_or(0, |v| v.len());
        self.0.merge(states, &vec![0; rows], 1)
    }
}

// ---------------------------------------------------------------------------------------
// Scalar functions over a stream's times

/// Which scalar function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Scalar {
    Profile,
    Gaps,
    LastBefore,
    FirstFrom,
}

impl Scalar {
    fn name(self) -> &'static str {
        match self {
            Scalar::Profile => "stream_profile",
            Scalar::Gaps => "stream_gaps",
            Scalar::LastBefore => "last_before",
            Scalar::FirstFrom => "first_from",
        }
    }

    fn usage(self) -> &'static str {
        match self {
            Scalar::Profile => "(times)",
            Scalar::Gaps => {
                "(times, BIGINT cadence_ns, DOUBLE gap_factor, BIGINT min_gap_ns, BIGINT min_events, TIMESTAMP data_end)"
            }
            Scalar::LastBefore | Scalar::FirstFrom => "(times, TIMESTAMP at)",
        }
    }
}

/// One of the scalar functions over `stream_times` lists.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StreamScalar {
    kind: Scalar,
    signature: Signature,
}

fn scalar(kind: Scalar) -> ScalarUDF {
    ScalarUDF::from(StreamScalar {
        kind,
        signature: Signature::user_defined(Volatility::Immutable),
    })
}

/// `stream_profile`, ready to register.
pub fn stream_profile_udf() -> ScalarUDF {
    scalar(Scalar::Profile)
}

/// `stream_gaps`, ready to register.
pub fn stream_gaps_udf() -> ScalarUDF {
    scalar(Scalar::Gaps)
}

/// `last_before`, ready to register.
pub fn last_before_udf() -> ScalarUDF {
    scalar(Scalar::LastBefore)
}

/// `first_from`, ready to register.
pub fn first_from_udf() -> ScalarUDF {
    scalar(Scalar::FirstFrom)
}

impl StreamScalar {
    /// The time zone of the `times` list; an error when the arguments do not fit.
    fn tz(&self, args: &[DataType]) -> Result<Option<Arc<str>>> {
        let arity = match self.kind {
            Scalar::Profile => 1,
            Scalar::Gaps => 6,
            Scalar::LastBefore | Scalar::FirstFrom => 2,
        };
        match args.first() {
            Some(DataType::List(item)) if args.len() == arity => match item.data_type() {
                DataType::Timestamp(TimeUnit::Nanosecond, tz) => Ok(tz.clone()),
                _ => plan_err!(
                    "{}{}: times must be a list of TIMESTAMP (ns)",
                    self.kind.name(),
                    self.kind.usage()
                ),
            },
            _ => plan_err!("{} takes {}, got {args:?}", self.kind.name(), self.kind.usage()),
        }
    }
}

/// The row's times of a `stream_times` list column.
fn row_times(lists: &ListArray, row: usize) -> Vec<i64> {
    if lists.is_null(row) {
        return Vec::new();
    }
    let v = lists.value(row);
    match v.as_primitive_opt::<TimestampNanosecondType>() {
        Some(t) => t.iter().flatten().collect(),
        None => Vec::new(),
    }
}

fn i64_at(a: &ArrayRef, row: usize) -> Option<i64> {
    if a.is_null(row) {
        return None;
    }
    a.as_primitive_opt::<Int64Type>()
        .map(|p| p.value(row))
        .or_else(|| a.as_primitive_opt::<TimestampNanosecondType>().map(|p| p.value(row)))
}

impl ScalarUDFImpl for StreamScalar {
    fn name(&self) -> &str {
        self.kind.name()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        let tz = self.tz(args)?;
        Ok(match self.kind {
            Scalar::Profile => vec![times_type(&tz)],
            Scalar::Gaps => vec![
                times_type(&tz),
                DataType::Int64,
                DataType::Float64,
                DataType::Int64,
                DataType::Int64,
                ts_type(&tz),
            ],
            Scalar::LastBefore | Scalar::FirstFrom => vec![times_type(&tz), ts_type(&tz)],
        })
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        let tz = self.tz(args)?;
        Ok(match self.kind {
            Scalar::Profile => DataType::Struct(profile_fields(&tz)),
            Scalar::Gaps => gap_list_type(&tz),
            Scalar::LastBefore | Scalar::FirstFrom => ts_type(&tz),
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let Some(lists) = arrays.first().and_then(|a| a.as_list_opt::<i32>()) else {
            return exec_err!("{}: times must be a list", self.kind.name());
        };
        let tz = match lists.value_type() {
            DataType::Timestamp(_, tz) => tz,
            _ => None,
        };
        let rows = lists.len();
        let out: ArrayRef = match self.kind {
            Scalar::Profile => {
                let p: Vec<Profile> = (0..rows).map(|r| profile(&row_times(lists, r))).collect();
                let columns: Vec<ArrayRef> = vec![
                    Arc::new(Int64Array::from_iter_values(p.iter().map(|p| p.times))),
                    timestamps(p.iter().map(|p| p.first_at).collect(), &tz),
                    timestamps(p.iter().map(|p| p.last_at).collect(), &tz),
                    Arc::new(Float64Array::from_iter(p.iter().map(|p| p.inferred_cadence_ns))),
                ];
                Arc::new(StructArray::try_new(profile_fields(&tz), columns, None)?)
            }
            Scalar::LastBefore | Scalar::FirstFrom => {
                let found = (0..rows).map(|r| {
                    let at = i64_at(&arrays[1], r)?;
                    let t = row_times(lists, r);
                    match self.kind {
                        Scalar::LastBefore => last_before(&t, at),
                        _ => first_from(&t, at),
                    }
                });
                timestamps(found.collect(), &tz)
            }
            Scalar::Gaps => {
                let (mut starts, mut ends, mut silences) = (Vec::new(), Vec::new(), Vec::new());
                let mut offsets = vec![0i32];
                for r in 0..rows {
                    let rule = match (
                        arrays[2].as_primitive_opt::<Float64Type>().filter(|a| !a.is_null(r)),
                        i64_at(&arrays[3], r),
                        i64_at(&arrays[4], r),
                        i64_at(&arrays[5], r),
                    ) {
                        (Some(f), Some(min_gap_ns), Some(min_events), Some(data_end)) => GapRule {
                            gap_factor: f.value(r),
                            min_gap_ns,
                            min_events,
                            data_end,
                        },
                        _ => {
                            return exec_err!(
                                "stream_gaps: gap_factor, min_gap_ns, min_events and data_end must not be null"
                            );
                        }
                    };
                    let cadence = i64_at(&arrays[1], r).unwrap_or(0);
                    for gap in gaps(&row_times(lists, r), cadence, &rule) {
                        starts.push(Some(gap.start_at));
                        ends.push(gap.end_at);
                        silences.push(gap.silence_ns);
                    }
                    offsets.push(i32::try_from(starts.len()).map_err(|_| {
                        datafusion::common::DataFusionError::Execution("stream_gaps: more than 2^31 gaps".into())
                    })?);
                }
                let fields = gap_fields(&tz);
                let columns: Vec<ArrayRef> = vec![
                    timestamps(starts, &tz),
                    timestamps(ends, &tz),
                    Arc::new(Int64Array::from(silences)),
                ];
                let items = StructArray::try_new(fields.clone(), columns, None)?;
                Arc::new(ListArray::try_new(
                    Arc::new(Field::new("item", DataType::Struct(fields), true)),
                    OffsetBuffer::new(ScalarBuffer::from(offsets)),
                    Arc::new(items),
                    None,
                )?)
            }
        };
        Ok(ColumnarValue::Array(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    #[test]
    fn profile_takes_the_median_step() {
        // Times 0, 10, 10, 20, 50 s: distinct 0, 10, 20, 50; steps 10, 10, 30 → median 10.
        let t = distinct_sorted(vec![50 * S, 10 * S, 0, 20 * S, 10 * S]);
        assert_eq!(t, vec![0, 10 * S, 20 * S, 50 * S]);
        assert_eq!(
            profile(&t),
            Profile {
                times: 4,
                first_at: Some(0),
                last_at: Some(50 * S),
                inferred_cadence_ns: Some(10.0 * S as f64),
            }
        );
        // An even count of steps averages the two middle ones: steps 1 and 3 ns → 2.
        assert_eq!(profile(&[0, 1, 4]).inferred_cadence_ns, Some(2.0));
        assert_eq!(profile(&[7]).inferred_cadence_ns, None);
        assert_eq!(profile(&[]).first_at, None);
    }

    #[test]
    fn gaps_are_steps_above_the_threshold_plus_the_open_end() {
        let rule = GapRule {
            gap_factor: 3.0,
            min_gap_ns: 0,
            min_events: 3,
            data_end: 200 * S,
        };
        // Cadence inferred 10 s → threshold 30 s: the 40 s step is a gap, the 30 s one is not
        // (strictly longer), and 200 − 120 = 80 s to the data end is an open gap.
        let t = [0, 10 * S, 20 * S, 50 * S, 60 * S, 70 * S, 80 * S, 120 * S];
        assert_eq!(
            gaps(&t, 0, &rule),
            vec![
                StreamGap {
                    start_at: 80 * S,
                    end_at: Some(120 * S),
                    silence_ns: 40 * S
                },
                StreamGap {
                    start_at: 120 * S,
                    end_at: None,
                    silence_ns: 80 * S
                },
            ]
        );
        // The spec's cadence (20 s → 60 s) wins over the inferred one; the floor over both.
        assert_eq!(gaps(&t, 20 * S, &rule).len(), 1);
        let floor = GapRule {
            min_gap_ns: 100 * S,
            ..rule
        };
        assert!(gaps(&t, 0, &floor).is_empty());
        // Too few distinct times: not checked.
        assert!(gaps(&[0, 100 * S], 0, &rule).is_empty());
    }

    #[test]
    fn last_before_and_first_from_search_the_sorted_times() {
        let t = [10, 20, 30];
        assert_eq!(
            (last_before(&t, 20), last_before(&t, 21), last_before(&t, 10)),
            (Some(10), Some(20), None)
        );
        assert_eq!(
            (first_from(&t, 20), first_from(&t, 21), first_from(&t, 31)),
            (Some(20), Some(30), None)
        );
    }

    /// The state of rows passed on without partial aggregation (`convert_to_state`: each row
    /// its own group, filtered and null rows empty) merges into the same lists.
    #[test]
    fn rows_converted_to_state_merge_like_aggregated_ones() {
        let groups = TimeGroups {
            tz: None,
            times: Vec::new(),
        };
        let t: ArrayRef = Arc::new(PrimitiveArray::<TimestampNanosecondType>::from(vec![
            Some(30),
            None,
            Some(10),
            Some(20),
            Some(10),
        ]));
        let keep = BooleanArray::from(vec![true, true, true, false, true]);
        let state = groups.convert_to_state(&[t], Some(&keep)).unwrap();
        assert_eq!(state[0].len(), 5);
        let mut merged = TimeGroups {
            tz: None,
            times: Vec::new(),
        };
        // Rows 0, 1, 2 into group 0; rows 3, 4 into group 1.
        merged.merge_batch(&state, &[0, 0, 0, 1, 1], 2).unwrap();
        let out = merged.evaluate(EmitTo::All).unwrap();
        let lists = out.as_list::<i32>();
        let row = |r: usize| row_times(lists, r);
        // Group 0: 30, (null), 10 → [10, 30]; group 1: (20 filtered out), 10 → [10].
        assert_eq!((row(0), row(1)), (vec![10, 30], vec![10]));
    }

    /// Four partitions, four target partitions: partial states per partition, then the merge,
    /// give the same times as one pass over every row of the group.
    #[tokio::test]
    async fn sql_over_several_partitions_equals_one_pass() {
        use arrow::array::{RecordBatch, StringArray};
        use arrow::datatypes::Schema;
        use datafusion::datasource::MemTable;
        use datafusion::prelude::{SessionConfig, SessionContext};

        let utc: Option<Arc<str>> = Some("UTC".into());
        let schema = Arc::new(Schema::new(vec![
            Field::new("g", DataType::Utf8, false),
            Field::new("t", ts_type(&utc), true),
        ]));
        // Group a: times 0..200 s with every 7th missing and a duplicate of every 5th; group
        // b: 3 times. Rows are dealt round-robin to the partitions.
        let mut rows: Vec<(&str, i64)> = Vec::new();
        for i in (0..200).filter(|i| i % 7 != 3) {
            rows.push(("a", i * S));
            if i % 5 == 0 {
                rows.push(("a", i * S));
            }
        }
        rows.extend([("b", 0), ("b", 50 * S), ("b", 60 * S)]);
        let parts: Vec<Vec<RecordBatch>> = (0..4)
            .map(|p| {
                let mine: Vec<&(&str, i64)> = rows.iter().skip(p).step_by(4).collect();
                let g = StringArray::from(mine.iter().map(|r| r.0).collect::<Vec<_>>());
                let t = PrimitiveArray::<TimestampNanosecondType>::from(mine.iter().map(|r| r.1).collect::<Vec<_>>())
                    .with_timezone_opt(utc.clone());
                vec![RecordBatch::try_new(schema.clone(), vec![Arc::new(g), Arc::new(t)]).unwrap()]
            })
            .collect();
        let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(4));
        crate::udf::register(&ctx);
        ctx.register_table("e", Arc::new(MemTable::try_new(schema, parts).unwrap()))
            .unwrap();
        let sql = "SELECT g, COUNT(*) AS events, stream_profile(stream_times(t))['times'] AS times, \
                   stream_profile(stream_times(t))['inferred_cadence_ns'] AS cadence, \
                   cardinality(stream_gaps(stream_times(t), 0, 1.5, 0, 3, TIMESTAMP '1970-01-01T00:05:00Z')) AS gaps, \
                   last_before(stream_times(t), TIMESTAMP '1970-01-01T00:00:55Z') AS before_55 \
                   FROM e GROUP BY g ORDER BY g";
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        let b = arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
        let i = |c: usize, r: usize| b.column(c).as_primitive::<Int64Type>().value(r);
        let times_of = |g: &str| distinct_sorted(rows.iter().filter(|r| r.0 == g).map(|r| r.1).collect());
        let rule = GapRule {
            gap_factor: 1.5,
            min_gap_ns: 0,
            min_events: 3,
            data_end: 300 * S,
        };
        for (r, g) in ["a", "b"].into_iter().enumerate() {
            let want = profile(&times_of(g));
            assert_eq!(i(2, r), want.times, "{g}");
            assert_eq!(
                b.column(3).as_primitive::<Float64Type>().value(r),
                want.inferred_cadence_ns.unwrap(),
                "{g}"
            );
            assert_eq!(
                b.column(4).as_primitive::<arrow::datatypes::UInt64Type>().value(r) as usize,
                gaps(&times_of(g), 0, &rule).len(),
                "{g}"
            );
        }
        // a: 200 − 29 missing (i ≡ 3 mod 7) = 171 distinct times, + 34 duplicates (the 40
        // multiples of 5 less 10, 45, 80, 115, 150, 185, which are missing); cadence 1 s →
        // threshold 1.5 s: each missing second is a 2 s gap, except 199, the last (28), plus
        // the open 102 s from 198 to 300 s.
        assert_eq!((i(1, 0), i(2, 0)), (171 + 34, 171));
        assert_eq!(gaps(&times_of("a"), 0, &rule).len(), 29);
        // b: steps 50 and 10 → median 30 s; threshold 45 s: 0 → 50 is a gap, and 60 → 300.
        assert_eq!(gaps(&times_of("b"), 0, &rule).len(), 2);
        // The last time before 55 s: 54 s in a, 50 s in b.
        let before = b.column(5).as_primitive::<TimestampNanosecondType>();
        assert_eq!((before.value(0), before.value(1)), (54 * S, 50 * S));
        let (two_steps, plan) = crate::udf::aggregates_in_two_steps(&ctx, sql).await;
        assert!(two_steps, "{plan}");
    }
}
