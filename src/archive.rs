//! `cutover archive`: copies a drill from the Kafka log into an embedded log (with its seals
//! and hash chain), so that the drill can be kept, verified and analyzed without the cluster.
//! `cutover analyze --from kafka://…` archives into a temporary directory and analyzes that,
//! so both paths build the tables from the same records.

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
    let (records, partitions) = tokio::task::spawn_blocking(move || -> anyhow::Result<(u64, usize)> {
        const BATCH: usize = 4096;
        let mut batch: Vec<Vec<u8>> = Vec::with_capacity(BATCH);
        let mut failed: Option<anyhow::Error> = None;
        let (n, partitions) = cutover_kafka::read_to_end(&url, idle, |r| {
            batch.push(r.payload);
            if batch.len() == BATCH && failed.is_none() {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                if let Err(e) = writer.append_blocking(full) {
                    failed = Some(e.into());
                }
            }
        })?;
        if let Some(e) = failed {
            return Err(e);
        }
        if !batch.is_empty() {
            writer.append_blocking(batch)?;
        }
        writer.close();
        Ok((n, partitions))
    })
    .await??;
    Ok(Archived { records, partitions })
}

pub async fn run(args: &ArchiveArgs) -> anyhow::Result<u8> {
    let started = std::time::Instant::now();
    let a = archive(&args.from, &args.data_dir, Duration::from_secs(args.idle_seconds)).await?;
    println!(
        "archived {} records from {} partitions of {} into {} in {:.1} s",
        a.records,
        a.partitions,
        args.from,
        args.data_dir.join("log").display(),
        started.elapsed().as_secs_f64()
    );
    Ok(0)
}
