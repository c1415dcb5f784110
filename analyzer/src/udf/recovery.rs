//! `recovery_start(start_time, bad, stable_ms, success_ratio)`: the spine's "recovered" moment
//! as a SQL aggregate over the requests after the fault.
//!
//! Result: the start of the earliest request that is good (`bad` is false) such that at least
//! `success_ratio` of the requests starting in `[its start, its start + stable_ms]` are good,
//! itself and every request starting at the same instant included, and such that the window
//! ends no later than the last request's start (a quiet end of the data cannot pass for
//! stability). Null when no request qualifies. A request whose `bad` is null is not a
//! candidate but counts as good in a window (as `CASE WHEN bad THEN 0 ELSE 1 END` would).
//!
//! One sort of the group's requests and one pass with two pointers, instead of a window frame
//! per request. `stable_ms` and `success_ratio` must be the same on every row (constants).
//!
//! Partial states: the requests as two lists (start ns, bad) plus the two constants; merging
//! appends.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, BooleanBuilder, Int64Builder, ListBuilder};
use arrow::datatypes::{DataType, Field, FieldRef, Float64Type, Int64Type, TimeUnit, TimestampNanosecondType};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility};

/// The rule's constants.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stability {
    /// Window length, ns.
    pub stable_ns: i64,
    /// Share of good requests the window needs.
    pub success_ratio: f64,
}

/// The recovered moment of `requests` (start ns, bad), in any order.
pub fn recovery_start(mut requests: Vec<(i64, Option<bool>)>, rule: Stability) -> Option<i64> {
    requests.sort_unstable_by_key(|r| r.0);
    let last = requests.last()?.0;
    // good_before[i] = good requests among the first i.
    let mut good_before = Vec::with_capacity(requests.len() + 1);
    good_before.push(0u64);
    for r in &requests {
        let prev = *good_before.last().expect("starts with 0");
        good_before.push(prev + u64::from(r.1 != Some(true)));
    }
    let (mut lo, mut hi) = (0usize, 0usize);
    for (i, &(t, bad)) in requests.iter().enumerate() {
        if i == 0 || requests[i - 1].0 != t {
            lo = i;
        }
        let end = t.saturating_add(rule.stable_ns);
        if end > last {
            // Later requests only end later.
            return None;
        }
        if bad != Some(false) {
            continue;
        }
        while hi < requests.len() && requests[hi].0 <= end {
            hi += 1;
        }
        let total = (hi - lo) as f64;
        let good = (good_before[hi] - good_before[lo]) as f64;
        if good >= rule.success_ratio * total {
            return Some(t);
        }
    }
    None
}

/// The `recovery_start` aggregate.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecoveryStart {
    signature: Signature,
}

/// `recovery_start` as a DataFusion aggregate, ready to register.
pub fn recovery_start_udaf() -> AggregateUDF {
    AggregateUDF::from(RecoveryStart {
        signature: Signature::user_defined(Volatility::Immutable),
    })
}

fn time_zone(args: &[DataType]) -> Result<Option<Arc<str>>> {
    match args.first() {
        Some(DataType::Timestamp(TimeUnit::Nanosecond, tz)) if args.len() == 4 => Ok(tz.clone()),
        _ => plan_err!(
            "recovery_start takes (TIMESTAMP start_time, BOOLEAN bad, BIGINT stable_ms, DOUBLE success_ratio), got {args:?}"
        ),
    }
}

impl AggregateUDFImpl for RecoveryStart {
    fn name(&self) -> &str {
        "recovery_start"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        let tz = time_zone(args)?;
        Ok(vec![
            DataType::Timestamp(TimeUnit::Nanosecond, tz),
            DataType::Boolean,
            DataType::Int64,
            DataType::Float64,
        ])
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Timestamp(TimeUnit::Nanosecond, time_zone(args)?))
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let tz = match args.return_field.data_type() {
            DataType::Timestamp(_, tz) => tz.clone(),
            _ => None,
        };
        Ok(Box::new(RecoveryAccumulator {
            tz,
            requests: Vec::new(),
            rule: None,
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let name = args.name;
        let list = |t: DataType| DataType::List(Arc::new(Field::new("item", t, true)));
        Ok(vec![
            Arc::new(Field::new(format!("{name}[starts]"), list(DataType::Int64), true)),
            Arc::new(Field::new(format!("{name}[bad]"), list(DataType::Boolean), true)),
            Arc::new(Field::new(format!("{name}[stable_ns]"), DataType::Int64, true)),
            Arc::new(Field::new(format!("{name}[success_ratio]"), DataType::Float64, true)),
        ])
    }
}

/// The requests while DataFusion aggregates.
#[derive(Debug)]
struct RecoveryAccumulator {
    tz: Option<Arc<str>>,
    requests: Vec<(i64, Option<bool>)>,
    rule: Option<Stability>,
}

impl RecoveryAccumulator {
    fn take_rule(&mut self, stable_ns: &ArrayRef, ratio: &ArrayRef, row: usize, stable_is_ms: bool) -> Result<()> {
        if self.rule.is_some() || stable_ns.is_null(row) || ratio.is_null(row) {
            return Ok(());
        }
        let (Some(s), Some(r)) = (
            stable_ns.as_primitive_opt::<Int64Type>(),
            ratio.as_primitive_opt::<Float64Type>(),
        ) else {
            return exec_err!("recovery_start: stable_ms must be a BIGINT and success_ratio a DOUBLE");
        };
        let stable = s.value(row);
        self.rule = Some(Stability {
            stable_ns: if stable_is_ms {
                stable.saturating_mul(1_000_000)
            } else {
                stable
            },
            success_ratio: r.value(row),
        });
        Ok(())
    }
}

impl Accumulator for RecoveryAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        if values.len() != 4 {
            return exec_err!("recovery_start: expected 4 arguments, got {}", values.len());
        }
        let (Some(t), Some(bad)) = (
            values[0].as_primitive_opt::<TimestampNanosecondType>(),
            values[1].as_boolean_opt(),
        ) else {
            return exec_err!("recovery_start: expected a TIMESTAMP (ns) and a BOOLEAN column");
        };
        if !t.is_empty() {
            self.take_rule(&values[2], &values[3], 0, true)?;
        }
        self.requests.reserve(t.len() - t.null_count());
        for row in 0..t.len() {
            if t.is_null(row) {
                continue;
            }
            let b = (!bad.is_null(row)).then(|| bad.value(row));
            self.requests.push((t.value(row), b));
        }
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let found = match self.rule {
            Some(rule) => recovery_start(std::mem::take(&mut self.requests), rule),
            None => None,
        };
        Ok(ScalarValue::TimestampNanosecond(found, self.tz.clone()))
    }

    fn size(&self) -> usize {
        size_of::<Self>() + self.requests.capacity() * size_of::<(i64, Option<bool>)>()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let mut starts = ListBuilder::new(Int64Builder::with_capacity(self.requests.len()));
        let mut bad = ListBuilder::new(BooleanBuilder::with_capacity(self.requests.len()));
        for (t, b) in std::mem::take(&mut self.requests) {
            starts.values().append_value(t);
            bad.values().append_option(b);
        }
        starts.append(true);
        bad.append(true);
        Ok(vec![
            ScalarValue::List(Arc::new(starts.finish())),
            ScalarValue::List(Arc::new(bad.finish())),
            ScalarValue::Int64(self.rule.map(|r| r.stable_ns)),
            ScalarValue::Float64(self.rule.map(|r| r.success_ratio)),
        ])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        if states.len() != 4 {
            return exec_err!("recovery_start: expected 4 partial state columns, got {}", states.len());
        }
        let (Some(starts), Some(bad)) = (states[0].as_list_opt::<i32>(), states[1].as_list_opt::<i32>()) else {
            return exec_err!("recovery_start: expected list partial states");
        };
        for row in 0..starts.len() {
            self.take_rule(&states[2], &states[3], row, false)?;
            if starts.is_null(row) {
                continue;
            }
            let (s, b) = (starts.value(row), bad.value(row));
            let (Some(s), Some(b)) = (s.as_primitive_opt::<Int64Type>(), b.as_boolean_opt()) else {
                return exec_err!("recovery_start: the partial state holds no BIGINT starts and BOOLEAN flags");
            };
            let b: &BooleanArray = b;
            for i in 0..s.len() {
                let flag = (!b.is_null(i)).then(|| b.value(i));
                self.requests.push((s.value(i), flag));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    fn rule(stable_s: i64, ratio: f64) -> Stability {
        Stability {
            stable_ns: stable_s * S,
            success_ratio: ratio,
        }
    }

    #[test]
    fn the_first_good_request_opening_a_good_enough_window() {
        // One request per second from 1 to 30 s; bad at 1..=5 and at 8.
        let reqs: Vec<(i64, Option<bool>)> = (1..=30).map(|s| (s * S, Some(s <= 5 || s == 8))).collect();
        // Window 10 s, all good needed: 6 s sees the bad 8 → first is 9 s.
        assert_eq!(recovery_start(reqs.clone(), rule(10, 1.0)), Some(9 * S));
        // 0.9 of 11 requests (9.9) — 6..=16 has 10 good of 11: enough.
        assert_eq!(recovery_start(reqs.clone(), rule(10, 0.9)), Some(6 * S));
        // The window must end by the last start (30 s): 25 s is too late for a 10 s window.
        let tail: Vec<_> = reqs.iter().map(|&(t, _)| (t, Some(t < 25 * S))).collect();
        assert_eq!(recovery_start(tail, rule(10, 1.0)), None);
        assert_eq!(recovery_start(Vec::new(), rule(10, 1.0)), None);
    }

    #[test]
    fn requests_at_the_same_instant_share_one_window() {
        // At 1 s a good and a bad request (in either order): the window of the good one counts
        // the bad one too (2 of 3 good with the one at 2 s), so with ratio 1.0 the answer is 2 s.
        for first_bad in [true, false] {
            let mut reqs = vec![(S, Some(first_bad)), (S, Some(!first_bad)), (2 * S, Some(false))];
            reqs.push((5 * S, Some(false)));
            assert_eq!(recovery_start(reqs.clone(), rule(1, 1.0)), Some(2 * S), "{first_bad}");
            assert_eq!(recovery_start(reqs, rule(1, 0.6)), Some(S), "{first_bad}");
        }
        // A null flag: not a candidate, but good inside a window.
        let reqs = vec![(S, None), (S, Some(false)), (3 * S, Some(false))];
        assert_eq!(recovery_start(reqs, rule(1, 1.0)), Some(S));
    }
}
