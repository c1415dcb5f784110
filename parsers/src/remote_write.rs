//! Prometheus remote_write 1.0 bodies: a snappy block-compressed protobuf `WriteRequest`.
//!
//! The messages are prost derives with the field numbers of Prometheus' published
//! `remote.proto` / `types.proto`. Fields cutover does not use (exemplars, native histograms)
//! are not declared, so decoding skips them.

/// The NaN bit pattern Prometheus uses as a staleness marker.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// Why a body was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    /// The body would decompress past the limit.
    #[error("body decompresses to {len} bytes, over the limit of {limit}")]
    TooLarge {
        /// Declared decompressed length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// Not valid snappy block format.
    #[error("invalid snappy body: {0}")]
    Snappy(String),
    /// Not a valid `WriteRequest`.
    #[error("invalid remote_write protobuf: {0}")]
    Protobuf(String),
}

/// Decompresses and decodes a body, refusing one that would expand past `limit` before
/// allocating for it.
pub fn decode(body: &[u8], limit: usize) -> Result<WriteRequest, DecodeError> {
    let len = snap::raw::decompress_len(body).map_err(|e| DecodeError::Snappy(e.to_string()))?;
    if len > limit {
        return Err(DecodeError::TooLarge { len, limit });
    }
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| DecodeError::Snappy(e.to_string()))?;
    <WriteRequest as prost::Message>::decode(raw.as_slice()).map_err(|e| DecodeError::Protobuf(e.to_string()))
}

/// Encodes a request as Prometheus sends it (tests, benchmarks).
pub fn encode(req: &WriteRequest) -> Vec<u8> {
    snap::raw::Encoder::new()
        .compress_vec(&prost::Message::encode_to_vec(req))
        .expect("snappy compresses any input")
}

/// `prometheus.WriteRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    /// The series.
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
    /// Metadata of metric families (Prometheus sends it in requests of its own, by default
    /// every minute).
    #[prost(message, repeated, tag = "3")]
    pub metadata: Vec<MetricMetadata>,
}

/// `prometheus.MetricMetadata`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MetricMetadata {
    /// `MetricType` number: 0 unknown, 1 counter, 2 gauge, 3 histogram, 4 gaugehistogram,
    /// 5 summary, 6 info, 7 stateset.
    #[prost(int32, tag = "1")]
    pub r#type: i32,
    /// Metric family name.
    #[prost(string, tag = "2")]
    pub metric_family_name: String,
    /// Help text.
    #[prost(string, tag = "4")]
    pub help: String,
    /// Unit.
    #[prost(string, tag = "5")]
    pub unit: String,
}

impl MetricMetadata {
    /// The type's lowercase name (`unknown` for numbers outside the enumeration).
    pub fn type_name(&self) -> &'static str {
        match self.r#type {
            1 => "counter",
            2 => "gauge",
            3 => "histogram",
            4 => "gaugehistogram",
            5 => "summary",
            6 => "info",
            7 => "stateset",
            _ => "unknown",
        }
    }
}

/// `prometheus.TimeSeries`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    /// Labels, including `__name__`.
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// Samples.
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}

/// `prometheus.Label`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Label {
    /// Name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `prometheus.Sample`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Sample {
    /// Value.
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Milliseconds since the epoch.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req() -> WriteRequest {
        WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![Label {
                    name: "__name__".into(),
                    value: "up".into(),
                }],
                samples: vec![
                    Sample {
                        value: 1.0,
                        timestamp: 5,
                    },
                    Sample {
                        value: f64::from_bits(STALE_NAN_BITS),
                        timestamp: 6,
                    },
                ],
            }],
            metadata: vec![MetricMetadata {
                r#type: 1,
                metric_family_name: "http_requests_total".into(),
                help: "Requests served.".into(),
                unit: String::new(),
            }],
        }
    }

    #[test]
    fn round_trip_keeps_staleness_bits_and_metadata() {
        let back = decode(&encode(&req()), 1 << 20).unwrap();
        assert_eq!(back.timeseries[0].samples[1].value.to_bits(), STALE_NAN_BITS);
        assert_eq!(back.timeseries[0].labels[0].value, "up");
        assert_eq!(back.metadata, req().metadata);
        assert_eq!(back.metadata[0].type_name(), "counter");
        let other = MetricMetadata {
            r#type: 42,
            ..back.metadata[0].clone()
        };
        assert_eq!(other.type_name(), "unknown");
    }

    #[test]
    fn limit_truncation_and_garbage_are_refused() {
        let z = encode(&req());
        assert!(matches!(decode(&z, 3), Err(DecodeError::TooLarge { limit: 3, .. })));
        assert!(matches!(
            decode(&z[..z.len() - 2], 1 << 20),
            Err(DecodeError::Snappy(_))
        ));
        assert!(matches!(
            decode(
                &snap::raw::Encoder::new().compress_vec(b"\x0a\xff\xff").unwrap(),
                1 << 20
            ),
            Err(DecodeError::Protobuf(_))
        ));
        assert!(matches!(
            decode(b"\xff\xff\xff\xff\xff", 1 << 20),
            Err(DecodeError::Snappy(_))
        ));
    }
}
