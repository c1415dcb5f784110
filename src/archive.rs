//! `cutover archive`: copies a drill from the Kafka log into an embedded log (with its seals
//! and hash chain), so that the drill can be kept, verified and analyzed without the cluster.
//! `cutover analyze --from kafka://…` archives into a temporary directory and analyzes that,
//! so both paths build the tables from the same records.
//!
//! A record whose bytes equal an earlier record's is taken for a producer retry of the same
//! event (the envelope carries its ingest time, so events of different requests, retried
//! client requests included, never have equal bytes): it is copied once and counted as a
//! duplicate. Two events of one request identical in every field are kept once too
//! (docs/kafka.md).

use std::path::{Path, PathBuf};
use std::time::Duration;

use cutover_eventlog::{LogConfig, LogWriter};

/// Arguments of `cutover archive`.
#[derive(clap::Args)]
pub struct ArchiveArgs {
    /// The Kafka log: kafka://HOST:PORT?topic=NAME (the topic is read from the start of every
    /// partition to its end as found).
    #[arg(long, value_name = "URL")]
    from: String,
    /// New data directory to write the embedded log into (its `log/` must not exist yet).
    #[arg(long)]
    data_dir: PathBuf,
    /// Seconds to wait for the broker's next answer before giving up.
    #[arg(long, default_value_t = 30)]
    idle_seconds: u64,
}

/// What an archive copied.
pub struct Archived {
    /// Records copied.
    pub records: u64,
    /// Partitions of the topic.
    pub partitions: usize,
    /// Records left out because an earlier record had the same bytes (producer retries).
    pub duplicates: u64,
}

/// Copies every record of the topic at `from` into a new log in `data_dir/log`.
pub async fn archive(from: &str, data_dir: &Path, idle: Duration) -> anyhow::Result<Archived> {
    let url = cutover_kafka::KafkaUrl::parse(from)?;
    let log_dir = data_dir.join("log");
    if log_dir.exists() {
        anyhow::bail!("{} exists: archive writes a new log only", log_dir.display());
    }
    std::fs::create_dir_all(data_dir)?;
    let (writer, _) = LogWriter::open(&log_dir, LogConfig::default())?;
    let copied = tokio::task::spawn_blocking(move || -> anyhow::Result<(u64, usize, u64)> {
        const BATCH: usize = 4096;
        let mut batch: Vec<Vec<u8>> = Vec::with_capacity(BATCH);
        // 128 bits of each record's BLAKE3 hash: 16 bytes per record held while copying.
        let mut seen: std::collections::HashSet<u128> = std::collections::HashSet::new();
        let mut duplicates = 0u64;
        let mut failed: Option<anyhow::Error> = None;
        let read = cutover_kafka::read_to_end(&url, idle, |r| {
            let id = u128::from_le_bytes(blake3::hash(&r.payload).as_bytes()[..16].try_into().expect("16 bytes"));
            if !seen.insert(id) {
                duplicates += 1;
                return;
            }
            batch.push(r.payload);
            if batch.len() == BATCH && failed.is_none() {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                if let Err(e) = writer.append_blocking(full) {
                    failed = Some(e.into());
                }
            }
        });
        let last = match (&read, failed) {
            (Ok(_), None) if !batch.is_empty() => writer.append_blocking(batch).map(|_| ()).map_err(Into::into),
            (_, Some(e)) => Err(e),
            _ => Ok(()),
        };
        // Closed (its thread joined) before the caller may remove a failed copy.
        writer.close();
        let (n, partitions) = read?;
        last?;
        Ok((n - duplicates, partitions, duplicates))
    })
    .await?;
    // A copy that stopped half way is not a drill: it goes, so that the archive can be retried.
    let (records, partitions, duplicates) = copied.inspect_err(|_| {
        let _ = std::fs::remove_dir_all(&log_dir);
    })?;
    Ok(Archived {
        records,
        partitions,
        duplicates,
    })
}

pub async fn run(args: &ArchiveArgs) -> anyhow::Result<u8> {
    let started = std::time::Instant::now();
    let a = archive(&args.from, &args.data_dir, Duration::from_secs(args.idle_seconds)).await?;
    println!(
        "archived {} records from {} partitions of {} into {} in {:.1} s ({} duplicate records left out)",
        a.records,
        a.partitions,
        args.from,
        args.data_dir.join("log").display(),
        started.elapsed().as_secs_f64(),
        a.duplicates
    );
    Ok(0)
}
