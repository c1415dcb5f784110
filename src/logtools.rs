//! `cutover verify` and `cutover salvage`: the operator's commands for the log's integrity
//! (the rules are in `cutover_eventlog`'s docs).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

/// Arguments of `cutover verify`.
#[derive(clap::Args)]
pub struct VerifyArgs {
    /// Data directory of `cutover ingest` (its `log/` is checked), or a log directory.
    #[arg(long)]
    data_dir: PathBuf,
    /// Print one line per segment, not only the summary and the damage.
    #[arg(long)]
    segments: bool,
}

/// Arguments of `cutover salvage`.
#[derive(clap::Args)]
pub struct SalvageArgs {
    /// Data directory (or log directory) of the damaged log; it is only read.
    #[arg(long)]
    data_dir: PathBuf,
    /// New data directory to write the salvaged log into (its `log/` must not exist yet).
    #[arg(long)]
    into: PathBuf,
}

/// `DIR/log` when it is a directory, else `DIR` itself.
fn log_dir(dir: &Path) -> PathBuf {
    let sub = cutover_analyzer::log_dir(dir);
    if sub.is_dir() { sub } else { dir.to_path_buf() }
}

fn progress_line(verb: &'static str) -> impl FnMut(u64, u64) {
    let tty = std::io::stderr().is_terminal();
    move |done, total| {
        if tty {
            let pct = if total == 0 { 100 } else { done * 100 / total };
            eprint!("\r\x1b[2K{verb} {pct}% ({} of {} MB)", done >> 20, total >> 20);
        }
    }
}

pub fn verify(args: &VerifyArgs) -> anyhow::Result<u8> {
    let dir = log_dir(&args.data_dir);
    let started = std::time::Instant::now();
    let report = cutover_eventlog::verify(&dir, progress_line("verifying"))?;
    if std::io::stderr().is_terminal() {
        eprint!("\r\x1b[2K");
    }
    let secs = started.elapsed().as_secs_f64();
    let records: u64 = report.segments.iter().map(|s| s.records).sum();
    let sealed = report.segments.iter().filter(|s| s.sealed).count();
    if args.segments {
        for s in &report.segments {
            println!(
                "segment {} v{} records {}..{} bytes {}{}{}",
                s.path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default(),
                s.version,
                s.base,
                s.base + s.records,
                s.bytes,
                if s.sealed { " sealed" } else { " active" },
                if s.torn_bytes > 0 {
                    format!(" torn_tail_bytes {}", s.torn_bytes)
                } else {
                    String::new()
                }
            );
        }
    }
    println!(
        "checked {} segments ({sealed} sealed), {records} records, {} bytes in {secs:.2} s ({:.0} MB/s): record checksums and sequence, seals, content hashes, chain, durable mark",
        report.segments.len(),
        report.bytes,
        report.bytes as f64 / 1e6 / secs.max(1e-9)
    );
    match report.hwm {
        Some(h) => println!(
            "durable mark: {} records (segment {}, {} bytes)",
            h.next_seq, h.segment_base, h.durable_len
        ),
        None => println!("durable mark: none (a version-1 log, or a writer that never synced)"),
    }
    for s in report.segments.iter().filter(|s| s.torn_bytes > 0) {
        println!(
            "note: {} ends in {} bytes of a torn append that was never acknowledged (the next writer start cuts it)",
            s.path.display(),
            s.torn_bytes
        );
    }
    if let Some(d) = &report.digest {
        println!(
            "log whole: records {}..{}, head {}",
            d.first_seq,
            d.next_seq,
            d.head
                .as_ref()
                .map_or_else(|| "none (version 1)".to_string(), cutover_eventlog::hex)
        );
        return Ok(0);
    }
    for p in &report.problems {
        println!("DAMAGE: {p}");
    }
    println!(
        "log damaged: {} problem(s); `cutover salvage --data-dir {} --into NEW` copies the valid records",
        report.problems.len(),
        args.data_dir.display()
    );
    Ok(1)
}

pub fn salvage(args: &SalvageArgs) -> anyhow::Result<u8> {
    let src = log_dir(&args.data_dir);
    let dst = cutover_analyzer::log_dir(&args.into);
    // The copy appends with the blocking API: off the async runtime.
    let report = std::thread::scope(|s| {
        s.spawn(|| cutover_eventlog::salvage(&src, &dst, progress_line("salvaging")))
            .join()
            .map_err(|_| anyhow::anyhow!("salvage panicked"))
    })??;
    if std::io::stderr().is_terminal() {
        eprint!("\r\x1b[2K");
    }
    println!(
        "salvaged {} records from {} segments of {} into {}",
        report.copied,
        report.source_segments,
        src.display(),
        dst.display()
    );
    if report.lost.is_empty() {
        println!("nothing lost");
    }
    for l in &report.lost {
        println!(
            "LOST: {} bytes {}..{} seqs {}..{} ({}): {}",
            l.segment,
            l.from_offset,
            l.to_offset,
            l.from_seq,
            l.to_seq.map_or_else(|| "end".to_string(), |s| s.to_string()),
            if l.acknowledged {
                "acknowledged"
            } else {
                "never acknowledged"
            },
            l.reason
        );
    }
    println!(
        "the list is kept in {}",
        dst.join(cutover_eventlog::SALVAGE_FILE).display()
    );
    Ok(0)
}
