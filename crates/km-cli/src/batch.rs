//! `km record --batch FILE`: JSON lines through the background sender.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::fs::File;
use std::hash::{Hash, Hasher};
use std::io::{self, BufRead, BufReader};
use std::path::Path;
use std::time::SystemTime;

use kissmetrics::proto::{Encoder, Unkeyed};
use kissmetrics::sender::Undelivered;
use serde_json::json;

use crate::cli::{Connection, DeliveryArgs, DryRun};
use crate::deliver::{ranges, Delivery, Progress};
use crate::exit::{Failure, Status};
use crate::lines;
use crate::ops::Op;
use crate::output;

/// What the command line says about one batch.
pub(crate) struct Batch<'a> {
    pub(crate) file: &'a Path,
    pub(crate) connection: &'a Connection,
    pub(crate) delivery: &'a DeliveryArgs,
    pub(crate) dry_run: &'a DryRun,
    pub(crate) json: bool,
}

/// Reads `file` (`-`: stdin) and sends (or, dry, prints) every valid line.
pub(crate) fn run(batch: &Batch<'_>) -> Result<(), Failure> {
    let input: Box<dyn BufRead> = if batch.file == Path::new("-") {
        Box::new(io::stdin().lock())
    } else {
        let file = File::open(batch.file)
            .map_err(|e| Failure::other(format!("cannot open {}: {e}", batch.file.display())))?;
        Box::new(BufReader::new(file))
    };
    if batch.dry_run.dry_run {
        dry(batch, input)
    } else {
        send(batch, input)
    }
}

/// The lines of `input`, numbered from 1, without their line ends; a line
/// that is not UTF-8 is an `Err` with its number, to be reported as invalid.
fn numbered(
    input: Box<dyn BufRead>,
) -> impl Iterator<Item = io::Result<(usize, Result<String, String>)>> {
    let mut input = input;
    let mut number = 0;
    std::iter::from_fn(move || {
        let mut bytes = Vec::new();
        match input.read_until(b'\n', &mut bytes) {
            Ok(0) => None,
            Ok(_) => {
                number += 1;
                if bytes.ends_with(b"\n") {
                    bytes.pop();
                    if bytes.ends_with(b"\r") {
                        bytes.pop();
                    }
                }
                let text = String::from_utf8(bytes).map_err(|_| "the line is not UTF-8".to_owned());
                Some(Ok((number, text)))
            }
            Err(e) => Some(Err(e)),
        }
    })
}

/// A valid line: its call (stamped) and request.
struct Prepared {
    op: Op,
    unkeyed: Unkeyed,
    request: kissmetrics::proto::http::Request<()>,
}

/// Parses, stamps and encodes one line; the error says why it is invalid.
fn prepare(encoder: &Encoder, text: &str, now: u64) -> Result<Prepared, String> {
    let op = lines::parse(text)?.stamped(now);
    let request = op.encode(encoder, None).map_err(|e| e.to_string())?;
    let unkeyed = encoder
        .strip_key(&request)
        .ok_or_else(|| "the request cannot be stored without its key".to_owned())?;
    Ok(Prepared {
        op,
        unkeyed,
        request,
    })
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Invalid lines and failed calls, by line number, and how they are shown.
struct Tally {
    json: bool,
    invalid: Vec<usize>,
    failed: Vec<usize>,
    /// Failures whose line could not be found (none are expected).
    failed_unknown: usize,
    valid: usize,
    /// Line numbers of the calls handed to the sender and not known to be
    /// settled, by a digest of their request.
    pending: HashMap<u64, Vec<usize>>,
    /// The first failure to print a report (stdout closed, say).
    output_error: Option<Failure>,
}

fn digest(request: &Unkeyed) -> u64 {
    let mut hasher = DefaultHasher::new();
    request.as_str().hash(&mut hasher);
    hasher.finish()
}

impl Tally {
    fn new(json: bool) -> Tally {
        Tally {
            json,
            invalid: Vec::new(),
            failed: Vec::new(),
            failed_unknown: 0,
            valid: 0,
            pending: HashMap::new(),
            output_error: None,
        }
    }

    fn invalid(
        &mut self,
        line: usize,
        why: &str,
        progress: Option<&Progress>,
    ) -> Result<(), Failure> {
        self.invalid.push(line);
        let text = format!("line {line}: invalid: {why}");
        let print_json = || {
            if self.json {
                output::json_line(&json!({
                    "ok": false, "line": line, "error": "invalid", "message": why,
                }))
            } else {
                Ok(())
            }
        };
        match progress {
            Some(progress) => {
                progress.report(&text);
                progress.suspend(print_json)
            }
            None => {
                eprintln!("km: {text}");
                print_json()
            }
        }
    }

    fn expect(&mut self, request: &Unkeyed, line: usize) {
        self.pending.entry(digest(request)).or_default().push(line);
    }

    /// Reports a call the sender gave up on, under its line number.
    fn undelivered(&mut self, lost: &Undelivered, progress: &Progress) {
        if let Err(e) = self.report_undelivered(lost, progress) {
            self.output_error.get_or_insert(e);
        }
    }

    fn report_undelivered(
        &mut self,
        lost: &Undelivered,
        progress: &Progress,
    ) -> Result<(), Failure> {
        let key = digest(&lost.request);
        let line = match self.pending.get_mut(&key) {
            Some(lines) if !lines.is_empty() => {
                let line = lines.remove(0);
                if lines.is_empty() {
                    self.pending.remove(&key);
                }
                Some(line)
            }
            _ => None,
        };
        let reason = lost.reason.to_string();
        match line {
            Some(line) => {
                self.failed.push(line);
                progress.report(&format!("line {line}: not delivered: {reason}"));
            }
            None => {
                self.failed_unknown += 1;
                progress.report(&format!("{}: not delivered: {reason}", lost.request));
            }
        }
        if self.json {
            progress.suspend(|| {
                output::json_line(&json!({
                    "ok": false, "line": line, "error": "undelivered", "reason": reason,
                }))
            })?;
        }
        Ok(())
    }

    fn failed_total(&self) -> usize {
        self.failed.len() + self.failed_unknown
    }

    /// Prints the summary on stdout and turns the counts into the result.
    fn summary(&self, dry: bool) -> Result<(), Failure> {
        let failed = self.failed_total();
        let invalid = self.invalid.len();
        if self.json {
            let mut failed_lines = self.failed.clone();
            failed_lines.sort_unstable();
            let mut invalid_lines = self.invalid.clone();
            invalid_lines.sort_unstable();
            let (first_name, first_count) = if dry {
                ("printed", self.valid)
            } else {
                ("delivered", self.valid - failed.min(self.valid))
            };
            output::json_line(&json!({
                "summary": true,
                first_name: first_count,
                "failed": failed,
                "invalid": invalid,
                "failed_lines": failed_lines,
                "invalid_lines": invalid_lines,
            }))?;
        } else {
            let lead = if dry {
                format!("printed {} (nothing sent)", self.valid)
            } else {
                format!("delivered {}", self.valid - failed.min(self.valid))
            };
            output::line(&format!(
                "{lead}, failed {failed}{}, invalid {invalid}{}",
                with_lines(&self.failed),
                with_lines(&self.invalid),
            ))?;
        }
        if failed + invalid == 0 {
            return Ok(());
        }
        Err(Failure::new(
            Status::Partial,
            format!(
                "{failed} call{} not delivered, {invalid} invalid line{}",
                plural(failed),
                plural(invalid)
            ),
        ))
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn with_lines(lines: &[usize]) -> String {
    match lines.len() {
        0 => String::new(),
        1 => format!(" (line {})", ranges(lines)),
        _ => format!(" (lines {})", ranges(lines)),
    }
}

/// Calls `f` with each non-blank line's number and its call, or why it is
/// invalid; stops at the first error of `f`. Returns the error that ended
/// the reading early, if any.
fn each_line(
    input: Box<dyn BufRead>,
    encoder: &Encoder,
    mut f: impl FnMut(usize, Result<Prepared, String>) -> Result<(), Failure>,
) -> Result<Option<io::Error>, Failure> {
    for item in numbered(input) {
        let (number, text) = match item {
            Ok(item) => item,
            Err(e) => return Ok(Some(e)),
        };
        match text {
            Ok(text) if text.trim().is_empty() => {}
            Ok(text) => f(number, prepare(encoder, &text, now_secs()))?,
            Err(why) => f(number, Err(why))?,
        }
    }
    Ok(None)
}

/// `--dry-run`: print each request, send nothing.
fn dry(batch: &Batch<'_>, input: Box<dyn BufRead>) -> Result<(), Failure> {
    let encoder = batch.connection.encoder()?;
    let mut tally = Tally::new(batch.json);
    let show_key = batch.dry_run.show_key;
    let read_error = each_line(input, &encoder, |number, prepared| match prepared {
        Ok(p) => {
            tally.valid += 1;
            if batch.json {
                let mut object = output::request_json(p.op.call(), &p.request, show_key);
                object["line"] = number.into();
                output::json_line(&object)
            } else {
                output::line(&output::request_line(&p.request, show_key))
            }
        }
        Err(why) => tally.invalid(number, &why, None),
    })?;
    let result = tally.summary(true);
    finish(batch.file, read_error, result)
}

/// Sends every valid line through the background sender.
fn send(batch: &Batch<'_>, input: Box<dyn BufRead>) -> Result<(), Failure> {
    let delivery = Delivery::start(batch.connection, batch.delivery, None)?;
    let encoder = delivery.sender().encoder().clone();
    let mut tally = Tally::new(batch.json);
    let read_error = each_line(input, &encoder, |number, prepared| {
        match prepared {
            // Reports are read only by `pump`, after `expect`: a report
            // never arrives before its line is known.
            Ok(p) => match p.op.submit(delivery.sender()) {
                Ok(_) => {
                    tally.expect(&p.unkeyed, number);
                    tally.valid += 1;
                }
                // Validated above with the same encoder: not expected.
                Err(e) => tally.invalid(number, &e.to_string(), Some(delivery.progress()))?,
            },
            Err(why) => tally.invalid(number, &why, Some(delivery.progress()))?,
        }
        // Once everything handed over is settled, every report is in
        // hand: the line numbers kept so far are no longer needed (this
        // bounds memory when lines trickle in from a pipe for days).
        let settled = delivery.settled();
        delivery.pump(
            &mut |lost, progress| tally.undelivered(&lost, progress),
            &mut |_, _| {},
        );
        if settled {
            tally.pending.clear();
        }
        Ok(())
    })?;
    delivery.finish(
        |lost, progress| tally.undelivered(&lost, progress),
        |_, _| {},
    );
    if let Some(e) = tally.output_error.take() {
        return Err(e);
    }
    let result = tally.summary(false);
    finish(batch.file, read_error, result)
}

/// A read error outranks the summary's verdict.
fn finish(
    file: &Path,
    read_error: Option<io::Error>,
    result: Result<(), Failure>,
) -> Result<(), Failure> {
    match read_error {
        Some(e) => Err(Failure::other(format!(
            "cannot read {}: {e}",
            file.display()
        ))),
        None => result,
    }
}
