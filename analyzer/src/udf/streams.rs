//! `stream_profile(t)` and `stream_gaps(t, …)`: the telemetry-gap definitions of
//! `measures::gaps` as SQL aggregates over one stream's event times.
//!
//! Both collect the stream's event times (ns) per group and do the work once per stream at the
//! end: sort, collapse duplicate times, then one pass over the steps between consecutive
//! distinct times. This replaces window functions that sorted every event of the log twice
//! per query (each `PARTITION BY` stream `ORDER BY` time plus a second unordered window).
//!
//! - `stream_profile(t)` → struct `events` (rows with a non-null `t`), `times` (distinct
//!   times), `first_at`, `last_at` (null for an empty group), `inferred_cadence_ns`: the median
//!   of the steps between consecutive distinct times as a DOUBLE (the mean of the two middle
//!   steps for an even count; null with fewer than two distinct times).
//! - `stream_gaps(t, cadence_ns, gap_factor, min_gap_ns, min_events, data_end)` → a list of
//!   structs `start_at`, `end_at` (null for an open gap), `silence_ns`, by start. A stream with
//!   fewer than `min_events` distinct times has no gaps. Its threshold (ns, DOUBLE) is
//!   `gap_factor × cadence_ns` when `cadence_ns` > 0, else `gap_factor ×` the inferred cadence,
//!   and never below `min_gap_ns`. A gap is a step longer than the threshold (start = the time
//!   before, end = the time after), and the silence from the last time to `data_end` when it
//!   is longer than the threshold (an open gap). `cadence_ns` is read per group (it depends on
//!   the stream's signal); the other arguments must be the same on every row (constants).
//!
//! Partial states (DataFusion aggregates each partition apart, then merges): the group's times
//! as a list of BIGINT, unsorted, plus the arguments. Merging appends, so the result does not
//! depend on how the rows were split.

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
    Accumulator, AggregateUDF, AggregateUDFImpl, EmitTo, GroupsAccumulator, Signature, Volatility,
};

/// What `stream_profile` reports for one stream.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Profile {
    /// Rows with a time.
    pub events: i64,
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

/// Sorts `times` and removes duplicates; returns the row count before.
fn distinct_sorted(times: &mut Vec<i64>) -> i64 {
    let events = times.len() as i64;
    times.sort_unstable();
    times.dedup();
    events
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

/// The profile of distinct sorted `times` that came from `events` rows.
fn profile_of(times: &[i64], events: i64) -> Profile {
    let steps: Vec<i64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    Profile {
        events,
        times: times.len() as i64,
        first_at: times.first().copied(),
        last_at: times.last().copied(),
        inferred_cadence_ns: median(steps),
    }
}

/// `stream_profile` of one stream's times (any order, duplicates allowed).
pub fn profile(mut times: Vec<i64>) -> Profile {
    let events = distinct_sorted(&mut times);
    profile_of(&times, events)
}

/// `stream_gaps` of one stream's times (any order, duplicates allowed).
pub fn gaps(mut times: Vec<i64>, cadence_ns: i64, rule: &GapRule) -> Vec<StreamGap> {
    let events = distinct_sorted(&mut times);
    let p = profile_of(&times, events);
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

/// Which of the two aggregates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Profile,
    Gaps,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Profile => "stream_profile",
            Kind::Gaps => "stream_gaps",
        }
    }

    fn arity(self) -> usize {
        match self {
            Kind::Profile => 1,
            Kind::Gaps => 6,
        }
    }
}

/// Either aggregate, registered under its name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StreamAggregate {
    kind: Kind,
    signature: Signature,
}

/// `stream_profile` as a DataFusion aggregate, ready to register.
pub fn stream_profile_udaf() -> AggregateUDF {
    AggregateUDF::from(StreamAggregate {
        kind: Kind::Profile,
        signature: Signature::user_defined(Volatility::Immutable),
    })
}

/// `stream_gaps` as a DataFusion aggregate, ready to register.
pub fn stream_gaps_udaf() -> AggregateUDF {
    AggregateUDF::from(StreamAggregate {
        kind: Kind::Gaps,
        signature: Signature::user_defined(Volatility::Immutable),
    })
}

fn ts_type(tz: &Option<Arc<str>>) -> DataType {
    DataType::Timestamp(TimeUnit::Nanosecond, tz.clone())
}

fn profile_fields(tz: &Option<Arc<str>>) -> Fields {
    vec![
        Field::new("events", DataType::Int64, false),
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

/// The time zone of the first argument, which must be a ns timestamp.
fn time_zone(kind: Kind, args: &[DataType]) -> Result<Option<Arc<str>>> {
    match args.first() {
        Some(DataType::Timestamp(TimeUnit::Nanosecond, tz)) if args.len() == kind.arity() => Ok(tz.clone()),
        _ => plan_err!(
            "{} takes {}, got {args:?}",
            kind.name(),
            match kind {
                Kind::Profile => "one TIMESTAMP (ns) column",
                Kind::Gaps =>
                    "(TIMESTAMP t, BIGINT cadence_ns, DOUBLE gap_factor, BIGINT min_gap_ns, BIGINT min_events, TIMESTAMP data_end)",
            }
        ),
    }
}

impl AggregateUDFImpl for StreamAggregate {
    fn name(&self) -> &str {
        self.kind.name()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        let tz = time_zone(self.kind, args)?;
        Ok(match self.kind {
            Kind::Profile => vec![ts_type(&tz)],
            Kind::Gaps => vec![
                ts_type(&tz),
                DataType::Int64,
                DataType::Float64,
                DataType::Int64,
                DataType::Int64,
                ts_type(&tz),
            ],
        })
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        let tz = time_zone(self.kind, args)?;
        Ok(match self.kind {
            Kind::Profile => DataType::Struct(profile_fields(&tz)),
            Kind::Gaps => gap_list_type(&tz),
        })
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(OneStream(self.groups(&args)?)))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let name = args.name;
        let mut fields = vec![Field::new(
            format!("{name}[times]"),
            DataType::List(Arc::new(Field::new("item", DataType::Int64, true))),
            true,
        )];
        if self.kind == Kind::Gaps {
            fields.push(Field::new(format!("{name}[cadence_ns]"), DataType::Int64, true));
            fields.push(Field::new(format!("{name}[gap_factor]"), DataType::Float64, true));
            fields.push(Field::new(format!("{name}[min_gap_ns]"), DataType::Int64, true));
            fields.push(Field::new(format!("{name}[min_events]"), DataType::Int64, true));
            fields.push(Field::new(format!("{name}[data_end]"), DataType::Int64, true));
        }
        Ok(fields.into_iter().map(Arc::new).collect())
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(self.groups(&args)?))
    }
}

impl StreamAggregate {
    fn groups(&self, args: &AccumulatorArgs) -> Result<StreamGroups> {
        let tz = match args.return_field.data_type() {
            DataType::Struct(fields) => match fields.find("first_at").map(|(_, f)| f.data_type()) {
                Some(DataType::Timestamp(_, tz)) => tz.clone(),
                _ => None,
            },
            DataType::List(item) => match item.data_type() {
                DataType::Struct(fields) => match fields.find("start_at").map(|(_, f)| f.data_type()) {
                    Some(DataType::Timestamp(_, tz)) => tz.clone(),
                    _ => None,
                },
                _ => None,
            },
            _ => None,
        };
        Ok(StreamGroups {
            kind: self.kind,
            tz,
            times: Vec::new(),
            cadence: Vec::new(),
            rule: None,
        })
    }
}

/// Every group's times while DataFusion aggregates.
#[derive(Debug)]
struct StreamGroups {
    kind: Kind,
    tz: Option<Arc<str>>,
    /// Per group: its times so far, unsorted.
    times: Vec<Vec<i64>>,
    /// Per group: `cadence_ns` (`stream_gaps` only).
    cadence: Vec<i64>,
    /// The constant arguments, from the first row seen (`stream_gaps` only).
    rule: Option<GapRule>,
}

fn int_value(a: &ArrayRef, row: usize) -> Option<i64> {
    if a.is_null(row) {
        return None;
    }
    if let Some(p) = a.as_primitive_opt::<Int64Type>() {
        return Some(p.value(row));
    }
    a.as_primitive_opt::<TimestampNanosecondType>().map(|p| p.value(row))
}

fn float_value(a: &ArrayRef, row: usize) -> Option<f64> {
    (!a.is_null(row))
        .then(|| a.as_primitive_opt::<Float64Type>().map(|p| p.value(row)))
        .flatten()
}

impl StreamGroups {
    fn grow(&mut self, total: usize) {
        if self.times.len() < total {
            self.times.resize_with(total, Vec::new);
            self.cadence.resize(total, 0);
        }
    }

    /// Reads the constant arguments from `row` of `args` (cadence, factor, floor, min events,
    /// data end) unless already known.
    fn take_rule(&mut self, args: &[ArrayRef], row: usize) -> Result<()> {
        if self.rule.is_some() || self.kind != Kind::Gaps {
            return Ok(());
        }
        let (Some(gap_factor), Some(min_gap_ns), Some(min_events), Some(data_end)) = (
            float_value(&args[1], row),
            int_value(&args[2], row),
            int_value(&args[3], row),
            int_value(&args[4], row),
        ) else {
            return exec_err!("stream_gaps: gap_factor, min_gap_ns, min_events and data_end must not be null");
        };
        self.rule = Some(GapRule {
            gap_factor,
            min_gap_ns,
            min_events,
            data_end,
        });
        Ok(())
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
            return exec_err!("{}: expected a TIMESTAMP (ns) column", self.kind.name());
        };
        if self.kind == Kind::Gaps {
            if values.len() != 6 {
                return exec_err!("stream_gaps: expected 6 arguments, got {}", values.len());
            }
            if !t.is_empty() {
                self.take_rule(&values[1..], 0)?;
            }
        }
        let cadence = match self.kind {
            Kind::Gaps => match values[1].as_primitive_opt::<Int64Type>() {
                Some(c) => Some(c),
                None => return exec_err!("stream_gaps: cadence_ns must be a BIGINT"),
            },
            Kind::Profile => None,
        };
        for (row, &g) in groups.iter().enumerate() {
            if filter.is_some_and(|f| !f.value(row) || f.is_null(row)) || t.is_null(row) {
                continue;
            }
            self.times[g].push(t.value(row));
            if let Some(c) = cadence {
                self.cadence[g] = if c.is_null(row) { 0 } else { c.value(row) };
            }
        }
        Ok(())
    }

    fn merge(&mut self, states: &[ArrayRef], groups: &[usize], total: usize) -> Result<()> {
        self.grow(total);
        let Some(lists) = states.first().and_then(|c| c.as_list_opt::<i32>()) else {
            return exec_err!("{}: expected a list partial state", self.kind.name());
        };
        if self.kind == Kind::Gaps && states.len() != 6 {
            return exec_err!("stream_gaps: expected 6 partial state columns, got {}", states.len());
        }
        for (row, &g) in groups.iter().enumerate() {
            if lists.is_null(row) {
                continue;
            }
            let values = lists.value(row);
            let Some(values) = values.as_primitive_opt::<Int64Type>() else {
                return exec_err!("{}: the partial state holds no BIGINT times", self.kind.name());
            };
            self.times[g].extend(values.iter().flatten());
            if self.kind == Kind::Gaps {
                if let Some(c) = int_value(&states[1], row) {
                    self.cadence[g] = c;
                }
                if self.rule.is_none() && !states[2].is_null(row) {
                    self.take_rule(&states[1..], row)?;
                }
            }
        }
        Ok(())
    }

    fn emit(&mut self, emit_to: EmitTo) -> (Vec<Vec<i64>>, Vec<i64>) {
        let times = emit_to.take_needed(&mut self.times);
        let cadence = if self.cadence.len() >= times.len() {
            emit_to.take_needed(&mut self.cadence)
        } else {
            vec![0; times.len()]
        };
        (times, cadence)
    }

    fn evaluate_groups(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let (times, cadence) = self.emit(emit_to);
        match self.kind {
            Kind::Profile => {
                let profiles: Vec<Profile> = times.into_iter().map(profile).collect();
                let ts = |v: Vec<Option<i64>>| {
                    Arc::new(PrimitiveArray::<TimestampNanosecondType>::from(v).with_timezone_opt(self.tz.clone()))
                        as ArrayRef
                };
                let columns: Vec<ArrayRef> = vec![
                    Arc::new(Int64Array::from_iter_values(profiles.iter().map(|p| p.events))),
                    Arc::new(Int64Array::from_iter_values(profiles.iter().map(|p| p.times))),
                    ts(profiles.iter().map(|p| p.first_at).collect()),
                    ts(profiles.iter().map(|p| p.last_at).collect()),
                    Arc::new(Float64Array::from_iter(profiles.iter().map(|p| p.inferred_cadence_ns))),
                ];
                Ok(Arc::new(StructArray::try_new(profile_fields(&self.tz), columns, None)?))
            }
            Kind::Gaps => {
                let (mut starts, mut ends, mut silences) = (Vec::new(), Vec::new(), Vec::new());
                let mut offsets = vec![0i32];
                for (t, c) in times.into_iter().zip(cadence) {
                    if let Some(rule) = &self.rule {
                        for gap in gaps(t, c, rule) {
                            starts.push(gap.start_at);
                            ends.push(gap.end_at);
                            silences.push(gap.silence_ns);
                        }
                    }
                    offsets.push(i32::try_from(starts.len()).map_err(|_| {
                        datafusion::common::DataFusionError::Execution("stream_gaps: more than 2^31 gaps".into())
                    })?);
                }
                let ts = |a: PrimitiveArray<TimestampNanosecondType>| {
                    Arc::new(a.with_timezone_opt(self.tz.clone())) as ArrayRef
                };
                let columns: Vec<ArrayRef> = vec![
                    ts(PrimitiveArray::from(starts)),
                    ts(PrimitiveArray::from(ends)),
                    Arc::new(Int64Array::from(silences)),
                ];
                let fields = gap_fields(&self.tz);
                let items = StructArray::try_new(fields.clone(), columns, None)?;
                let list = ListArray::try_new(
                    Arc::new(Field::new("item", DataType::Struct(fields), true)),
                    OffsetBuffer::new(ScalarBuffer::from(offsets)),
                    Arc::new(items),
                    None,
                )?;
                Ok(Arc::new(list))
            }
        }
    }

    fn state_groups(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let (times, cadence) = self.emit(emit_to);
        let n = times.len();
        let mut list = ListBuilder::new(Int64Builder::new());
        for t in times {
            list.values().append_slice(&t);
            list.append(true);
        }
        let mut out: Vec<ArrayRef> = vec![Arc::new(list.finish())];
        if self.kind == Kind::Gaps {
            let rule = self.rule;
            out.push(Arc::new(Int64Array::from(cadence)));
            out.push(Arc::new(Float64Array::from(vec![rule.map(|r| r.gap_factor); n])));
            out.push(Arc::new(Int64Array::from(vec![rule.map(|r| r.min_gap_ns); n])));
            out.push(Arc::new(Int64Array::from(vec![rule.map(|r| r.min_events); n])));
            out.push(Arc::new(Int64Array::from(vec![rule.map(|r| r.data_end); n])));
        }
        Ok(out)
    }

    fn bytes(&self) -> usize {
        size_of::<Self>()
            + self
                .times
                .iter()
                .map(|t| t.capacity() * size_of::<i64>())
                .sum::<usize>()
            + self.times.capacity() * size_of::<Vec<i64>>()
            + self.cadence.capacity() * size_of::<i64>()
    }
}

impl GroupsAccumulator for StreamGroups {
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
        let mut one = StreamGroups {
            kind: self.kind,
            tz: self.tz.clone(),
            times: Vec::new(),
            cadence: Vec::new(),
            rule: self.rule,
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
struct OneStream(StreamGroups);

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

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    #[test]
    fn profile_collapses_duplicates_and_takes_the_median_step() {
        // Times 0, 10, 10, 20, 50 s: distinct 0, 10, 20, 50; steps 10, 10, 30 → median 10.
        let p = profile(vec![50 * S, 10 * S, 0, 20 * S, 10 * S]);
        assert_eq!(
            p,
            Profile {
                events: 5,
                times: 4,
                first_at: Some(0),
                last_at: Some(50 * S),
                inferred_cadence_ns: Some(10.0 * S as f64),
            }
        );
        // An even count of steps averages the two middle ones: steps 1 and 3 ns → 2.
        assert_eq!(profile(vec![0, 1, 4]).inferred_cadence_ns, Some(2.0));
        assert_eq!(profile(vec![7]).inferred_cadence_ns, None);
        assert_eq!(profile(vec![]).first_at, None);
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
        let t = vec![0, 10 * S, 20 * S, 50 * S, 60 * S, 70 * S, 80 * S, 120 * S, 120 * S];
        assert_eq!(
            gaps(t.clone(), 0, &rule),
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
        assert_eq!(gaps(t.clone(), 20 * S, &rule).len(), 1);
        let floor = GapRule {
            min_gap_ns: 100 * S,
            ..rule
        };
        assert!(gaps(t.clone(), 0, &floor).is_empty());
        // Too few distinct times: not checked.
        assert!(gaps(vec![0, 0, 100 * S], 0, &rule).is_empty());
    }

    /// Four partitions, four target partitions: partial states per partition, then the merge,
    /// give the same figures as one pass over every time of the group.
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
        let sql = "SELECT g, p['events'] AS events, p['times'] AS times, p['inferred_cadence_ns'] AS cadence, \
                   cardinality(x) AS gaps \
                   FROM (SELECT g, stream_profile(t) AS p, \
                         stream_gaps(t, 0, 1.5, 0, 3, TIMESTAMP '1970-01-01T00:05:00Z') AS x \
                         FROM e GROUP BY g) ORDER BY g";
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        let b = arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
        let i = |c: usize, r: usize| b.column(c).as_primitive::<Int64Type>().value(r);
        let times_of = |g: &str| rows.iter().filter(|r| r.0 == g).map(|r| r.1).collect::<Vec<_>>();
        let rule = GapRule {
            gap_factor: 1.5,
            min_gap_ns: 0,
            min_events: 3,
            data_end: 300 * S,
        };
        for (r, g) in ["a", "b"].into_iter().enumerate() {
            let want = profile(times_of(g));
            assert_eq!(i(1, r), want.events, "{g}");
            assert_eq!(i(2, r), want.times, "{g}");
            assert_eq!(
                b.column(3).as_primitive::<Float64Type>().value(r),
                want.inferred_cadence_ns.unwrap(),
                "{g}"
            );
            let gaps_of = gaps(times_of(g), 0, &rule);
            assert_eq!(
                b.column(4).as_primitive::<arrow::datatypes::UInt64Type>().value(r) as usize,
                gaps_of.len(),
                "{g}"
            );
        }
        // a: 200 − 29 missing (i ≡ 3 mod 7) = 171 distinct times, + 34 duplicates (the 40
        // multiples of 5 less 10, 45, 80, 115, 150, 185, which are missing); cadence 1 s →
        // threshold 1.5 s: each missing second is a 2 s gap, except 199, the last (28), plus
        // the open 102 s from 198 to 300 s.
        assert_eq!((i(1, 0), i(2, 0)), (171 + 34, 171));
        assert_eq!(gaps(times_of("a"), 0, &rule).len(), 29);
        // b: steps 50 and 10 → median 30 s; threshold 45 s: 0 → 50 is a gap, and 60 → 300.
        assert_eq!(gaps(times_of("b"), 0, &rule).len(), 2);
        let plan = ctx
            .sql(&format!("EXPLAIN {sql}"))
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let plan = arrow::util::pretty::pretty_format_batches(&plan).unwrap().to_string();
        assert!(
            plan.contains("mode=Partial") && plan.contains("FinalPartitioned"),
            "{plan}"
        );
    }
}
