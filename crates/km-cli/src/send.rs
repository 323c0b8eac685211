//! `km send --outbox DIR`: replay an outbox once, then stop.

use kissmetrics::outbox::{Outbox, Quarantined};
use kissmetrics::sender::Undelivered;
use serde_json::json;

use crate::cli::SendArgs;
use crate::deliver::{Delivery, Progress};
use crate::exit::{Failure, Status};
use crate::output;

/// Replays every entry of the outbox that no other process holds.
///
/// Entries are claimed segment by segment with an exclusive lock (see
/// `kissmetrics::outbox`), so runs that overlap never send an entry twice.
/// Delivered entries leave the outbox; entries still failing for a
/// retryable reason when `--retry-for` runs out are kept for the next run;
/// entries the service rejects are reported and dropped.
pub(crate) fn run(args: &SendArgs) -> Result<(), Failure> {
    let dir = &args.outbox;
    if !dir.is_dir() {
        return Err(Failure::other(format!(
            "{}: no such outbox directory",
            dir.display()
        )));
    }
    let outbox = Outbox::new(dir).write_ahead(false).replay_every(None);
    let delivery = Delivery::start(&args.connection, &args.delivery, Some(outbox))?;
    let json = args.json.json;
    let mut failed = 0_u64;
    let mut quarantined = 0_u64;
    let mut output_error = None;
    let finished = delivery.finish(
        |lost: Undelivered, progress: &Progress| {
            failed += 1;
            let reason = lost.reason.to_string();
            progress.report(&format!("not delivered: {}: {reason}", lost.request));
            if json {
                let line = json!({
                    "ok": false, "request": lost.request.as_str(),
                    "error": "undelivered", "reason": reason,
                });
                if let Err(e) = progress.suspend(|| output::json_line(&line)) {
                    output_error.get_or_insert(e);
                }
            }
        },
        |entry: Quarantined, progress: &Progress| {
            quarantined += 1;
            progress.report(&format!(
                "corrupt outbox entry moved to {}: {}",
                entry.file.display(),
                entry.reason
            ));
        },
    );
    if let Some(e) = output_error {
        return Err(e);
    }
    let c = finished.counters;
    let kept = c.spilled + finished.report.spilled as u64;
    if json {
        output::json_line(&json!({
            "summary": true,
            "replayed": c.replayed,
            "delivered": c.delivered,
            "failed": failed,
            "kept": kept,
            "quarantined": quarantined,
            "outbox_errors": c.outbox_errors,
        }))?;
    } else {
        output::line(&format!(
            "replayed {}: delivered {}, failed {failed}, kept {kept} for the next run, \
             quarantined {quarantined}{}",
            c.replayed,
            c.delivered,
            match c.outbox_errors {
                0 => String::new(),
                n => format!(", outbox errors {n}"),
            }
        ))?;
    }
    if c.outbox_errors > 0 {
        return Err(Failure::other(format!(
            "{} outbox read/write error{} in {}",
            c.outbox_errors,
            if c.outbox_errors == 1 { "" } else { "s" },
            dir.display()
        )));
    }
    if failed + kept + quarantined > 0 {
        return Err(Failure::new(
            Status::Partial,
            format!("{failed} failed, {kept} kept for the next run, {quarantined} quarantined"),
        ));
    }
    Ok(())
}
