//! The event log on Kafka: the same events as the embedded log, on a topic of a cluster that
//! operators already run. The embedded log stays the default; this crate is used when the
//! log is given as `kafka://…`.
//!
//! The address syntax, the record format (version [`FORMAT_VERSION`]), the partitioning, and
//! the acknowledgement and duplicate rules are written down in `docs/kafka.md`, for this code
//! and for any other consumer of the topic.

use std::collections::HashSet;
use std::time::Duration;

use cutover_schemas::{Event, EventKind};
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer as _};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

/// This record format's version (the `cutover.format` header).
pub const FORMAT_VERSION: &str = "1";

/// The topic when the address names none.
pub const DEFAULT_TOPIC: &str = "cutover-events";

/// Errors of the Kafka log.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The address is not a `kafka://` address cutover understands.
    #[error("bad Kafka address {0}")]
    Address(String),
    /// The producer's bounded queue is full: retry shortly.
    #[error("the Kafka producer's queue is full")]
    Overloaded,
    /// The broker did not take the records (down, slow, or refusing): retry later.
    #[error("Kafka is unavailable: {0}")]
    Unavailable(String),
    /// Reading the topic failed.
    #[error("cannot read Kafka topic {topic}: {reason}")]
    Read {
        /// The topic.
        topic: String,
        /// What went wrong.
        reason: String,
    },
}

/// A parsed `kafka://` address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaUrl {
    /// `bootstrap.servers`: comma-separated `host:port`.
    pub brokers: String,
    /// The topic.
    pub topic: String,
    /// Partitions of a topic cutover creates.
    pub partitions: i32,
    /// Replication factor of a topic cutover creates.
    pub replication: i32,
    /// `delivery_timeout_ms`, when given: how long the producer retries a record before
    /// its request fails ([`ProducerSettings::delivery_timeout`]).
    pub delivery_timeout: Option<Duration>,
    /// `max_in_flight`, when given: records the producer may hold unacknowledged
    /// ([`ProducerSettings::max_in_flight_records`]).
    pub max_in_flight: Option<usize>,
    /// Where reading starts in every partition (`start_offset`, `start_time_ms`); from the
    /// beginning when neither is given.
    pub start: Start,
}

/// Where a reader starts in each partition; it always reads to the end of the partition as it
/// finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Start {
    /// The first record.
    #[default]
    Beginning,
    /// The record at this offset (the same number in every partition).
    Offset(i64),
    /// The first record whose Kafka timestamp (the producer's create time, which is the
    /// daemon's ingest time, not the event time) is at or after this many ms since the epoch.
    TimeMs(i64),
}

impl KafkaUrl {
    /// Parses `kafka://HOST:PORT[,…]?topic=…&partitions=…&replication=…`.
    pub fn parse(text: &str) -> Result<KafkaUrl, Error> {
        let bad = |why: &str| Error::Address(format!("{text:?}: {why}"));
        let rest = text
            .strip_prefix("kafka://")
            .ok_or_else(|| bad("it must start with kafka://"))?;
        let (hosts, query) = rest.split_once('?').unwrap_or((rest, ""));
        let hosts = hosts.trim_end_matches('/');
        if hosts.is_empty() || hosts.split(',').any(|h| !h.contains(':')) {
            return Err(bad("give the brokers as HOST:PORT, comma-separated"));
        }
        let mut url = KafkaUrl {
            brokers: hosts.to_string(),
            topic: DEFAULT_TOPIC.to_string(),
            partitions: 3,
            replication: 1,
            delivery_timeout: None,
            max_in_flight: None,
            start: Start::Beginning,
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair
                .split_once('=')
                .ok_or_else(|| bad("query parameters are key=value"))?;
            let number = || {
                v.parse::<i32>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| bad(&format!("{k} must be a positive integer")))
            };
            match k {
                "topic" if !v.is_empty() && v.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) => {
                    url.topic = v.to_string()
                }
                "topic" => return Err(bad("a topic is letters, digits, '.', '_' and '-'")),
                "partitions" => url.partitions = number()?,
                "replication" => url.replication = number()?,
                "delivery_timeout_ms" => url.delivery_timeout = Some(Duration::from_millis(number()? as u64)),
                "max_in_flight" => url.max_in_flight = Some(number()? as usize),
                "start_offset" | "start_time_ms" if url.start != Start::Beginning => {
                    return Err(bad("give start_offset or start_time_ms, not both"));
                }
                "start_offset" | "start_time_ms" => {
                    let n = v
                        .parse::<i64>()
                        .ok()
                        .filter(|n| *n >= 0)
                        .ok_or_else(|| bad(&format!("{k} must be a non-negative integer")))?;
                    url.start = if k == "start_offset" {
                        Start::Offset(n)
                    } else {
                        Start::TimeMs(n)
                    };
                }
                _ => {
                    return Err(bad(&format!(
                        "unknown parameter {k} (topic, partitions, replication, delivery_timeout_ms, max_in_flight, start_offset, start_time_ms)"
                    )));
                }
            }
        }
        Ok(url)
    }
}

fn unavailable(e: impl std::fmt::Display) -> Error {
    Error::Unavailable(e.to_string())
}

/// Whether the cluster has the topic (asked through `producer`'s connection).
fn topic_exists(producer: &FutureProducer, topic: &str) -> Result<bool, Error> {
    let md = producer
        .client()
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .map_err(unavailable)?;
    Ok(md
        .topics()
        .iter()
        .any(|t| t.name() == topic && t.error().is_none() && !t.partitions().is_empty()))
}

/// Creates the topic (a daemon may lack the right to; then the operators create it).
async fn create_topic(url: &KafkaUrl) -> Result<(), Error> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &url.brokers)
        .create()
        .map_err(unavailable)?;
    let topic = NewTopic::new(&url.topic, url.partitions, TopicReplication::Fixed(url.replication));
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let results = admin.create_topics([&topic], &options).await.map_err(unavailable)?;
    for r in results {
        match r {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((t, code)) => return Err(Error::Unavailable(format!("cannot create topic {t}: {code}"))),
        }
    }
    Ok(())
}

/// Settings of the producer that matter to the append contract.
#[derive(Debug, Clone)]
pub struct ProducerSettings {
    /// How long librdkafka keeps retrying a record before its delivery fails
    /// (`message.timeout.ms`); the daemon then answers with a retryable error.
    pub delivery_timeout: Duration,
    /// Records the producer may hold unacknowledged (`queue.buffering.max.messages`): the
    /// bounded in-flight budget; beyond it appends fail with [`Error::Overloaded`].
    pub max_in_flight_records: usize,
}

impl Default for ProducerSettings {
    fn default() -> Self {
        ProducerSettings {
            delivery_timeout: Duration::from_secs(15),
            max_in_flight_records: 100_000,
        }
    }
}

/// Appends events to the topic and acknowledges only what the broker acknowledged.
pub struct Producer {
    producer: FutureProducer,
    url: KafkaUrl,
}

impl Producer {
    /// Connects (creating the topic when it is missing).
    pub async fn open(url: &KafkaUrl, settings: &ProducerSettings) -> Result<Producer, Error> {
        let delivery_timeout = url.delivery_timeout.unwrap_or(settings.delivery_timeout);
        let max_in_flight = url.max_in_flight.unwrap_or(settings.max_in_flight_records);
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", &url.brokers)
            .set("acks", "all")
            .set("enable.idempotence", "false")
            .set("compression.type", "lz4")
            .set("linger.ms", "2")
            .set("max.in.flight.requests.per.connection", "5")
            .set("message.timeout.ms", delivery_timeout.as_millis().to_string())
            .set("queue.buffering.max.messages", max_in_flight.to_string())
            .create()
            .map_err(unavailable)?;
        let exists = {
            let p = producer.clone();
            let topic = url.topic.clone();
            tokio::task::spawn_blocking(move || topic_exists(&p, &topic))
                .await
                .map_err(unavailable)??
        };
        if !exists {
            create_topic(url).await?;
        }
        Ok(Producer {
            producer,
            url: url.clone(),
        })
    }

    /// Records sent and not yet acknowledged (or failed) by the broker.
    pub fn in_flight(&self) -> i32 {
        self.producer.in_flight_count()
    }

    /// Sends `events` (many in flight at once) and returns once the broker acknowledged every
    /// one of them; an error means some may not be stored and the caller must not report
    /// them as stored.
    pub async fn append(&self, events: &[Event]) -> Result<(), Error> {
        let mut pending = Vec::with_capacity(events.len());
        for e in events {
            let payload = e.to_bytes();
            let kind = EventKind::try_from(e.kind).unwrap_or(EventKind::Unspecified).name();
            let schema = e.schema_version.to_string();
            let headers = OwnedHeaders::new_with_capacity(4)
                .insert(Header {
                    key: "cutover.kind",
                    value: Some(kind),
                })
                .insert(Header {
                    key: "cutover.region",
                    value: Some(e.region.as_str()),
                })
                .insert(Header {
                    key: "cutover.schema",
                    value: Some(schema.as_str()),
                })
                .insert(Header {
                    key: "cutover.format",
                    value: Some(FORMAT_VERSION),
                });
            let record = FutureRecord::to(&self.url.topic)
                .key(e.region.as_bytes())
                .payload(&payload)
                .headers(headers);
            match self.producer.send_result(record) {
                Ok(delivery) => pending.push(delivery),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    // Records already queued still go out; their outcome is not awaited, so
                    // the whole call is refused and the client retries (duplicates are
                    // removed by event identity).
                    return Err(Error::Overloaded);
                }
                Err((e, _)) => return Err(unavailable(e)),
            }
        }
        let mut failed = None;
        for delivery in pending {
            match delivery.await {
                Ok(Ok(_)) => {}
                Ok(Err((e, _))) => failed = Some(e.to_string()),
                Err(_) => failed = Some("the producer was dropped".into()),
            }
        }
        match failed {
            None => Ok(()),
            Some(e) => Err(Error::Unavailable(e)),
        }
    }

    /// Waits until every queued record was acknowledged or failed (at shutdown).
    pub fn flush(&self, timeout: Duration) {
        let _ = self.producer.flush(timeout);
    }
}

/// One record read back.
#[derive(Debug, Clone)]
pub struct Record {
    /// Partition.
    pub partition: i32,
    /// Offset in the partition.
    pub offset: i64,
    /// The value: one encoded event.
    pub payload: Vec<u8>,
}

/// Reads the topic from the start of every partition to its end as the reader finds it
/// (librdkafka's end-of-partition signal, not the broker's latest-offset answer), calling
/// `each` per record in partition order; returns the number of records read and of the
/// topic's partitions. `idle` bounds the wait for the broker's next answer.
pub fn read_to_end(url: &KafkaUrl, idle: Duration, mut each: impl FnMut(Record)) -> Result<(u64, usize), Error> {
    let read_error = |reason: String| Error::Read {
        topic: url.topic.clone(),
        reason,
    };
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &url.brokers)
        .set("group.id", "cutover-reader")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("auto.offset.reset", "earliest")
        // End-of-partition is an answer here, not news for the log.
        .set_log_level(rdkafka::config::RDKafkaLogLevel::Error)
        .create()
        .map_err(|e| read_error(e.to_string()))?;
    let metadata = consumer
        .fetch_metadata(Some(&url.topic), idle)
        .map_err(|e| read_error(e.to_string()))?;
    let topic = metadata
        .topics()
        .iter()
        .find(|t| t.name() == url.topic)
        .ok_or_else(|| read_error("the broker does not know the topic".into()))?;
    if let Some(e) = topic.error() {
        return Err(read_error(format!("{:?}", RDKafkaErrorCode::from(e))));
    }
    let partitions: Vec<i32> = topic.partitions().iter().map(|p| p.id()).collect();
    if partitions.is_empty() {
        return Err(read_error("the topic has no partitions".into()));
    }
    let mut assignment = TopicPartitionList::new();
    let first = match url.start {
        Start::Beginning => Offset::Beginning,
        Start::Offset(n) => Offset::Offset(n),
        Start::TimeMs(ms) => Offset::Offset(ms),
    };
    for p in &partitions {
        assignment
            .add_partition_offset(&url.topic, *p, first)
            .map_err(|e| read_error(e.to_string()))?;
    }
    if let Start::TimeMs(_) = url.start {
        // The offsets of the list are times here; the broker answers each with the first
        // offset at or after it (or the end of the partition).
        assignment = consumer
            .offsets_for_times(assignment, idle)
            .map_err(|e| read_error(format!("offsets for the start time: {e}")))?;
    }
    // Partitions are assigned, not joined through a consumer group: no rebalance to wait for.
    consumer.assign(&assignment).map_err(|e| read_error(e.to_string()))?;
    let mut at_end: HashSet<i32> = HashSet::new();
    let mut read = 0u64;
    while at_end.len() < partitions.len() {
        match consumer.poll(idle) {
            Some(Ok(m)) => {
                read += 1;
                each(Record {
                    partition: m.partition(),
                    offset: m.offset(),
                    payload: m.payload().unwrap_or_default().to_vec(),
                });
            }
            Some(Err(KafkaError::PartitionEOF(p))) => {
                at_end.insert(p);
            }
            Some(Err(e)) => return Err(read_error(e.to_string())),
            None => {
                return Err(read_error(format!(
                    "no answer from the broker for {} s with {} of {} partitions read to their end",
                    idle.as_secs(),
                    at_end.len(),
                    partitions.len()
                )));
            }
        }
    }
    Ok((read, partitions.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_with_defaults_and_refuse_what_they_cannot_mean() {
        let u = KafkaUrl::parse("kafka://127.0.0.1:9092").unwrap();
        assert_eq!(
            (u.brokers.as_str(), u.topic.as_str(), u.partitions, u.replication),
            ("127.0.0.1:9092", DEFAULT_TOPIC, 3, 1)
        );
        assert_eq!(u.delivery_timeout, None);
        let u = KafkaUrl::parse("kafka://a:1,b:2/?topic=drill-7&partitions=6&replication=3&delivery_timeout_ms=2500")
            .unwrap();
        assert_eq!(u.delivery_timeout, Some(Duration::from_millis(2500)));
        assert_eq!(
            KafkaUrl::parse("kafka://a:1?start_offset=7").unwrap().start,
            Start::Offset(7)
        );
        assert_eq!(
            KafkaUrl::parse("kafka://a:1?start_time_ms=1795000000000")
                .unwrap()
                .start,
            Start::TimeMs(1_795_000_000_000)
        );
        assert_eq!(
            (u.brokers.as_str(), u.topic.as_str(), u.partitions, u.replication),
            ("a:1,b:2", "drill-7", 6, 3)
        );
        for bad in [
            "http://a:1",
            "kafka://",
            "kafka://a",
            "kafka://a:1?topic=",
            "kafka://a:1?topic=x y",
            "kafka://a:1?partitions=0",
            "kafka://a:1?acks=1",
            "kafka://a:1?start_offset=-1",
            "kafka://a:1?start_offset=1&start_time_ms=2",
        ] {
            assert!(KafkaUrl::parse(bad).is_err(), "{bad}");
        }
    }

    fn marker(region: &str, n: i64) -> Event {
        Event {
            schema_version: cutover_schemas::SCHEMA_VERSION,
            kind: EventKind::Marker as i32,
            region: region.into(),
            event_time_unix_nano: n,
            ..Default::default()
        }
    }

    /// librdkafka's in-process mock cluster: a broker going down fails appends with a
    /// retryable error after the delivery timeout, and appends succeed again once it is back,
    /// from the same producer; every acknowledged record is read back.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_broker_down_fails_appends_and_its_return_resumes_them() {
        let mock = rdkafka::mocking::MockCluster::new(1).unwrap();
        mock.create_topic("mocked", 1, 1).unwrap();
        let url = KafkaUrl::parse(&format!(
            "kafka://{}?topic=mocked&partitions=1&delivery_timeout_ms=1500",
            mock.bootstrap_servers()
        ))
        .unwrap();
        let producer = Producer::open(&url, &ProducerSettings::default()).await.unwrap();
        let mut acknowledged = 0u64;
        producer
            .append(&[marker("us-east-1", 1), marker("us-west-2", 2)])
            .await
            .unwrap();
        acknowledged += 2;
        mock.broker_down(1).unwrap();
        let started = std::time::Instant::now();
        let refused = producer.append(&[marker("us-east-1", 3)]).await;
        assert!(matches!(refused, Err(Error::Unavailable(_))), "{refused:?}");
        assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
        mock.broker_up(1).unwrap();
        let mut back = false;
        for _ in 0..40 {
            if producer.append(&[marker("us-east-1", 4)]).await.is_ok() {
                acknowledged += 1;
                back = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        assert!(back, "appends did not resume after the broker came back");
        let reader_url = url.clone();
        let (read, partitions, times) = tokio::task::spawn_blocking(move || {
            let mut times = Vec::new();
            let (n, p) = read_to_end(&reader_url, Duration::from_secs(10), |r| {
                let e = <Event as prost::Message>::decode(r.payload.as_slice()).unwrap();
                times.push(e.event_time_unix_nano);
            })
            .unwrap();
            (n, p, times)
        })
        .await
        .unwrap();
        assert_eq!(partitions, 1);
        // Every acknowledged record is there; the refused one may be too (a producer retry can
        // store what it reported as failed: the analyzer de-duplicates).
        assert!(read >= acknowledged, "{read} < {acknowledged}");
        for t in [1, 2, 4] {
            assert!(times.contains(&t), "record {t} missing: {times:?}");
        }
    }
}
