//! A service level indicator from metrics: counters turned into the `requests` table.
//!
//! ```yaml
//! sli:
//!   metrics:
//!     # availability: bad requests over all requests (bad selects a subset of total's series)
//!     total: 'http_requests_total{job="frontend"}'
//!     bad: 'http_requests_total{job="frontend",code=~"5.."}'
//!     # or latency: requests under a threshold over all requests (bucket and count series)
//!     # total: 'http_request_duration_seconds_count{job="frontend"}'
//!     # good: 'http_request_duration_seconds_bucket{job="frontend",le="0.5"}'
//! ```
//!
//! # Selectors (a PromQL subset)
//!
//! `name{label op "value", ...}` with `op` one of `=`, `!=`, `=~`, `!~` (regular expressions
//! match the whole value, as in PromQL); `name` alone, or `{__name__="name", ...}`. A selector
//! names one metric (no regular expression on `__name__`). Labels are a point's attributes
//! (remote_write labels; OTLP data point attributes), plus `job` = its service and `region`.
//! No functions, offsets or ranges: the rate is computed as below.
//!
//! # From counters to requests
//!
//! A series is one metric name × region × `service.instance.id` × attribute set. Its points,
//! in time order (staleness markers left out), give increments: a cumulative counter's
//! increase from one point to the next, its value itself after a reset (the value went down,
//! or the OTLP start time changed); a delta counter's value, over (its start time, its time].
//! A cumulative series' first point gives no increment (its baseline is unknown).
//!
//! Increments pair up by region, instance, attributes (without `le`) and end time: `total`
//! with `bad` (a series that both select is bad throughout), or `total` (the `_count` series)
//! with `good` (the `_bucket` series of one `le`: bad = total − good). Each pair of an
//! interval (t0, t1] with n requests, b of them bad, becomes n rows of `requests` spread
//! evenly over the interval, the bad ones interleaved evenly, with no duration and no trace.
//! At most [`MAX_ROWS_PER_INTERVAL`] rows stand for an interval: ratios stay exact, counts are
//! then scaled down (and the report says so). Every other section then reads `requests` as
//! it does for spans, so RTO, recovery, error budget and abort criteria keep their
//! definitions. Their time resolution is the scrape interval: [`MetricsRequests::resolution_ns`]
//! (the median interval) bounds the precision of the RTO.

use std::collections::BTreeMap;

use serde::Deserialize;

/// At most this many `requests` rows stand for one interval of one series pair.
pub const MAX_ROWS_PER_INTERVAL: u64 = 10_000;

/// The `sli.metrics` section of the drill spec.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MetricsSliSpec {
    /// All requests.
    pub total: String,
    /// The bad ones (availability form).
    #[serde(default)]
    pub bad: Option<String>,
    /// The good ones (latency form: the bucket under the threshold).
    #[serde(default)]
    pub good: Option<String>,
}

impl MetricsSliSpec {
    /// Parses every selector; exactly one of `bad` and `good`.
    pub fn selectors(&self) -> Result<(Selector, Selector, Side), String> {
        let total = Selector::parse(&self.total).map_err(|e| format!("sli.metrics.total: {e}"))?;
        match (&self.bad, &self.good) {
            (Some(b), None) => Ok((
                total,
                Selector::parse(b).map_err(|e| format!("sli.metrics.bad: {e}"))?,
                Side::Bad,
            )),
            (None, Some(g)) => Ok((
                total,
                Selector::parse(g).map_err(|e| format!("sli.metrics.good: {e}"))?,
                Side::Good,
            )),
            _ => Err("sli.metrics needs exactly one of bad (error counter) and good (latency bucket)".into()),
        }
    }
}

/// What the second selector counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Bad requests.
    Bad,
    /// Good requests.
    Good,
}

/// A label matcher's operator.
#[derive(Debug, Clone)]
pub enum Op {
    /// `=`
    Eq(String),
    /// `!=`
    Ne(String),
    /// `=~`
    Re(regex::Regex),
    /// `!~`
    NotRe(regex::Regex),
}

/// A metric selector.
#[derive(Debug, Clone)]
pub struct Selector {
    /// The metric name.
    pub name: String,
    /// Label matchers.
    pub matchers: Vec<(String, Op)>,
}

impl Selector {
    /// Parses `name{l="v",...}`.
    pub fn parse(text: &str) -> Result<Selector, String> {
        let text = text.trim();
        let (name, rest) = match text.find('{') {
            Some(i) => (text[..i].trim(), &text[i..]),
            None => (text, ""),
        };
        let mut matchers = Vec::new();
        if !rest.is_empty() {
            let body = rest
                .strip_prefix('{')
                .and_then(|r| r.strip_suffix('}'))
                .ok_or_else(|| format!("{text:?}: labels must be one {{...}} at the end"))?;
            let mut chars = body.chars().peekable();
            loop {
                while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
                    chars.next();
                }
                if chars.peek().is_none() {
                    break;
                }
                let mut label = String::new();
                while let Some(c) = chars
                    .peek()
                    .copied()
                    .filter(|c| c.is_alphanumeric() || *c == '_' || *c == '.')
                {
                    label.push(c);
                    chars.next();
                }
                if label.is_empty() {
                    return Err(format!("{text:?}: expected a label name"));
                }
                while chars.peek().is_some_and(|c| c.is_whitespace()) {
                    chars.next();
                }
                let mut op = String::new();
                while let Some(c) = chars.peek().copied().filter(|c| matches!(c, '=' | '!' | '~')) {
                    op.push(c);
                    chars.next();
                }
                while chars.peek().is_some_and(|c| c.is_whitespace()) {
                    chars.next();
                }
                if chars.next() != Some('"') {
                    return Err(format!("{text:?}: the value of {label} must be in double quotes"));
                }
                let mut value = String::new();
                loop {
                    match chars.next() {
                        None => return Err(format!("{text:?}: unterminated value of {label}")),
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some('n') => value.push('\n'),
                            Some(c) => value.push(c),
                            None => return Err(format!("{text:?}: unterminated value of {label}")),
                        },
                        Some(c) => value.push(c),
                    }
                }
                let re = |v: &str| {
                    regex::Regex::new(&format!("^(?:{v})$"))
                        .map_err(|e| format!("{text:?}: regular expression of {label}: {e}"))
                };
                let op = match op.as_str() {
                    "=" => Op::Eq(value),
                    "!=" => Op::Ne(value),
                    "=~" => Op::Re(re(&value)?),
                    "!~" => Op::NotRe(re(&value)?),
                    other => return Err(format!("{text:?}: unknown operator {other:?} after {label}")),
                };
                matchers.push((label, op));
            }
        }
        let mut name = name.to_string();
        if let Some(i) = matchers.iter().position(|(l, _)| l == "__name__") {
            match matchers.remove(i).1 {
                Op::Eq(n) if name.is_empty() => name = n,
                _ => {
                    return Err(format!(
                        "{text:?}: __name__ must be one name with =, and not beside a name"
                    ));
                }
            }
        }
        if name.is_empty() {
            return Err(format!("{text:?}: a selector names one metric"));
        }
        Ok(Selector { name, matchers })
    }

    /// Whether a point of metric `name` with `labels` is selected.
    pub fn matches(&self, name: &str, labels: &BTreeMap<String, String>) -> bool {
        name == self.name
            && self.matchers.iter().all(|(l, op)| {
                let v = labels.get(l).map_or("", String::as_str);
                match op {
                    Op::Eq(x) => v == x,
                    Op::Ne(x) => v != x,
                    Op::Re(r) => r.is_match(v),
                    Op::NotRe(r) => !r.is_match(v),
                }
            })
    }
}

/// One metric point, as read from `metric_points`.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// Metric name.
    pub name: String,
    /// Region.
    pub region: String,
    /// Service (`job`).
    pub service: String,
    /// `service.instance.id`, if any.
    pub instance: Option<String>,
    /// Attributes (labels), `job` and `region` included.
    pub labels: BTreeMap<String, String>,
    /// Event time, ns.
    pub time: i64,
    /// Value.
    pub value: f64,
    /// OTLP start time, ns (0 when unknown).
    pub start_time: i64,
    /// Whether the series is a delta counter.
    pub delta: bool,
}

/// One synthetic request.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Region.
    pub region: String,
    /// Service.
    pub service: String,
    /// The total metric's name.
    pub name: String,
    /// Start (and end) time, ns.
    pub time: i64,
    /// Bad.
    pub bad: bool,
}

/// The requests a metrics SLI stands for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricsRequests {
    /// The rows, in time order.
    pub rows: Vec<Row>,
    /// Median interval between a series' points, ns (the RTO's resolution).
    pub resolution_ns: Option<i64>,
    /// Whether some interval had more requests than [`MAX_ROWS_PER_INTERVAL`] (counts scaled).
    pub scaled: bool,
    /// `bad`/`good` increments with no `total` increment to pair with (left out).
    pub unpaired: u64,
}

/// Increments of one series: (start, end, amount).
fn increments(points: &mut [&Point]) -> Vec<(i64, i64, f64)> {
    points.sort_by_key(|p| p.time);
    let mut out = Vec::new();
    if points.first().is_some_and(|p| p.delta) {
        // A delta point is an increment over (its start time, its time], or from the previous
        // point when it carries no start time.
        let mut prev: Option<i64> = None;
        for p in points.iter() {
            let start = if p.start_time > 0 && p.start_time < p.time {
                Some(p.start_time)
            } else {
                prev
            };
            if let Some(start) = start.filter(|s| *s < p.time) {
                out.push((start, p.time, p.value.max(0.0)));
            }
            prev = Some(p.time);
        }
        return out;
    }
    for w in points.windows(2) {
        let (a, b) = (w[0], w[1]);
        if b.time <= a.time || !b.value.is_finite() {
            continue;
        }
        let inc = if b.value < a.value || (b.start_time != 0 && b.start_time != a.start_time) {
            b.value
        } else {
            b.value - a.value
        };
        out.push((a.time, b.time, inc.max(0.0)));
    }
    out
}

/// Turns the points of `total` and the other selector into requests (see the module doc).
pub fn requests(points: &[Point], total: &Selector, other: &Selector, side: Side) -> MetricsRequests {
    type SeriesKey<'a> = (&'a str, &'a str, Option<&'a str>, Vec<(&'a String, &'a String)>);
    let mut series: BTreeMap<SeriesKey<'_>, Vec<&Point>> = BTreeMap::new();
    for p in points.iter().filter(|p| p.value.is_finite()) {
        let labels: Vec<_> = p.labels.iter().collect();
        series
            .entry((&p.name, &p.region, p.instance.as_deref(), labels))
            .or_default()
            .push(p);
    }
    // (region, instance, labels without `le`, end) → (start, total, other, service, name)
    type PairKey = (String, Option<String>, Vec<(String, String)>, i64);
    let mut pairs: BTreeMap<PairKey, (i64, Option<f64>, f64, String, String)> = BTreeMap::new();
    let mut steps = Vec::new();
    for (_, mut pts) in series {
        let first = pts[0];
        let (is_total, is_other) = (
            total.matches(&first.name, &first.labels),
            other.matches(&first.name, &first.labels),
        );
        if !is_total && !is_other {
            continue;
        }
        let labels: Vec<(String, String)> = first
            .labels
            .iter()
            .filter(|(k, _)| k.as_str() != "le")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (start, end, inc) in increments(&mut pts) {
            if is_total {
                steps.push(end - start);
            }
            let e = pairs
                .entry((first.region.clone(), first.instance.clone(), labels.clone(), end))
                .or_insert((start, None, 0.0, first.service.clone(), String::new()));
            if is_total {
                e.0 = start;
                e.1 = Some(e.1.unwrap_or(0.0) + inc);
                e.4 = first.name.clone();
            }
            if is_other {
                e.2 += inc;
            }
        }
    }
    let mut out = MetricsRequests::default();
    for ((region, _, _, end), (start, total_inc, other_inc, service, name)) in pairs {
        let Some(total_inc) = total_inc else {
            out.unpaired += 1;
            continue;
        };
        let n = total_inc.round() as u64;
        let other = (other_inc.round() as u64).min(n);
        let bad = match side {
            Side::Bad => other,
            Side::Good => n - other,
        };
        let rows = n.min(MAX_ROWS_PER_INTERVAL);
        if rows < n {
            out.scaled = true;
        }
        // In u128: counter values are input, and bad × rows must not overflow.
        let bad_rows = (u128::from(bad) * u128::from(rows) + u128::from(n / 2))
            .checked_div(u128::from(n))
            .map_or(0, |b| b as u64);
        for i in 0..rows {
            let time = start + ((end - start) as i128 * (i as i128 + 1) / rows as i128) as i64;
            // The bad rows spread evenly among the good ones.
            let is_bad = (i + 1) * bad_rows / rows > i * bad_rows / rows;
            out.rows.push(Row {
                region: region.clone(),
                service: service.clone(),
                name: name.clone(),
                time,
                bad: is_bad,
            });
        }
    }
    out.rows.sort_by(|a, b| (a.time, &a.region).cmp(&(b.time, &b.region)));
    steps.sort_unstable();
    out.resolution_ns = steps.get(steps.len() / 2).copied();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    fn point(name: &str, labels: &[(&str, &str)], time: i64, value: f64) -> Point {
        Point {
            name: name.into(),
            region: "r1".into(),
            service: "frontend".into(),
            instance: None,
            labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            time,
            value,
            start_time: 0,
            delta: false,
        }
    }

    #[test]
    fn selectors_parse_and_match_like_promql() {
        let s = Selector::parse(r#"http_requests_total{job="frontend", code=~"5..",path!~"/health.*"}"#).unwrap();
        let labels = |code: &str, path: &str| {
            [("job", "frontend"), ("code", code), ("path", path)]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>()
        };
        assert!(s.matches("http_requests_total", &labels("503", "/cart")));
        assert!(!s.matches("http_requests_total", &labels("200", "/cart")));
        assert!(
            !s.matches("http_requests_total", &labels("5033", "/cart")),
            "regexes are anchored"
        );
        assert!(!s.matches("http_requests_total", &labels("500", "/healthz")));
        assert!(!s.matches("other", &labels("503", "/cart")));
        let n = Selector::parse(r#"{__name__="up", job!="x"}"#).unwrap();
        assert_eq!(n.name, "up");
        for bad in [
            "",
            "{job=\"x\"}",
            "x{job=x}",
            "x{job=\"x\"",
            "x{job=<\"x\"}",
            "x{job=~\"(\"}",
            "x{__name__=\"y\"}",
        ] {
            assert!(Selector::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn counters_become_requests_with_resets_and_bad_series() {
        let total = Selector::parse("req_total").unwrap();
        let bad = Selector::parse(r#"req_total{code="500"}"#).unwrap();
        let ok = |t, v| point("req_total", &[("code", "200")], t * S, v);
        let err = |t, v| point("req_total", &[("code", "500")], t * S, v);
        let points = vec![
            ok(0, 100.0),
            ok(10, 110.0),
            ok(20, 4.0), // reset: 4 requests
            err(0, 7.0),
            err(10, 7.0),
            err(20, 9.0),
        ];
        let r = requests(&points, &total, &bad, Side::Bad);
        let got: Vec<(i64, bool)> = r.rows.iter().map(|x| (x.time / S, x.bad)).collect();
        // (0, 10]: 10 good at 1..=10 s; (10, 20]: 4 good at 12.5, 15, 17.5, 20 (integer
        // seconds shown) and 2 bad at 15, 20.
        assert_eq!(r.rows.len(), 16);
        assert_eq!(got.iter().filter(|(_, b)| *b).count(), 2);
        assert_eq!(got.iter().filter(|(t, _)| *t <= 10).count(), 10);
        assert_eq!(r.resolution_ns, Some(10 * S));
        assert_eq!((r.scaled, r.unpaired), (false, 0));
        assert!(r.rows.windows(2).all(|w| w[0].time <= w[1].time));
    }

    #[test]
    fn two_instances_of_one_counter_are_two_series_not_resets() {
        // Two pods report the same counter with the same labels; only service.instance.id
        // tells them apart. Read as one series, every other point would look like a reset.
        let total = Selector::parse("req_total").unwrap();
        let bad = Selector::parse(r#"req_total{code="500"}"#).unwrap();
        let mut points = Vec::new();
        for t in 0..=4 {
            for (pod, base) in [("pod-a", 1000.0), ("pod-b", 10.0)] {
                let mut p = point("req_total", &[("code", "200")], t * S, base + 10.0 * t as f64);
                p.instance = Some(pod.into());
                points.push(p);
            }
        }
        let r = requests(&points, &total, &bad, Side::Bad);
        // 4 intervals × 10 requests × 2 pods; a reset would have added about 1000 each time.
        assert_eq!(r.rows.len(), 80);
    }

    #[test]
    fn buckets_give_the_good_share_and_large_intervals_are_scaled() {
        let total = Selector::parse("lat_count").unwrap();
        let good = Selector::parse(r#"lat_bucket{le="0.5"}"#).unwrap();
        let points = vec![
            point("lat_count", &[], 0, 0.0),
            point("lat_count", &[], 5 * S, 100.0),
            point("lat_bucket", &[("le", "0.5")], 0, 0.0),
            point("lat_bucket", &[("le", "0.5")], 5 * S, 75.0),
            // Another bucket of the same histogram is not selected.
            point("lat_bucket", &[("le", "1")], 0, 0.0),
            point("lat_bucket", &[("le", "1")], 5 * S, 90.0),
        ];
        let r = requests(&points, &total, &good, Side::Good);
        assert_eq!(r.rows.len(), 100);
        assert_eq!(r.rows.iter().filter(|x| x.bad).count(), 25);
        let big = vec![point("lat_count", &[], 0, 0.0), point("lat_count", &[], S, 50_000.0)];
        let r = requests(&big, &total, &good, Side::Good);
        assert!(r.scaled && r.rows.len() == MAX_ROWS_PER_INTERVAL as usize);
        // No good series at all: every request of the interval is bad.
        assert!(r.rows.iter().all(|x| x.bad));
    }
}
