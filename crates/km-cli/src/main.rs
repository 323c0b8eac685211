//! `km`: a command-line client for the KISSmetrics tracking service, for
//! shell scripts, cron jobs and debugging.
//!
//! ```text
//! km record PERSON EVENT [NAME=VALUE ...] [--timestamp SECS]
//! km record --batch FILE|-
//! km set PERSON NAME=VALUE ... [--timestamp SECS]
//! km alias PERSON IDENTITY
//! km send --outbox DIR
//! km serve [--port N] [--json]
//! km completions bash|elvish|fish|powershell|zsh
//! ```
//!
//! `record`, `set`, `alias` and `send` take the connection options
//! `--key KEY` (default: the `KM_KEY` environment variable), `--host
//! HOST[:PORT]`, `--scheme http|https`, `--timeout SECS` and `--proxy URL`;
//! `record`, `set` and `alias` also take `--path PATH`, `--dry-run`,
//! `--show-key` and `--json`. Requests go over the facade's default blocking
//! transport (ureq). `km --help` and `km <command> --help` have examples.
//!
//! - **The key.** Prefer `KM_KEY` to `--key`: command-line arguments are
//!   visible to every user in `ps`. The key is never printed: `--dry-run`
//!   shows `_k=***` unless `--show-key`, help never shows the value of
//!   `KM_KEY`, usage errors have the key replaced by `***`, outbox entries
//!   carry no key, and `km serve` prints `***` for the key it receives.
//! - **Properties.** Each `NAME=VALUE` is split at its first `=`; a missing
//!   `=` or an empty name is invalid input. Values are sent as text.
//! - **Output.** A single call prints nothing on success and one line on
//!   stderr on failure; `--json` prints one JSON object per result on
//!   stdout (`{"call":"record","ok":true,"status":200}`), `--dry-run` the
//!   request (`GET https://trk.kissmetrics.io/e?_k=***&_p=bob&_n=Signed+Up`).
//! - **`km record --batch FILE`** reads JSON lines (`{"op": "record",
//!   "person": .., "event": .., "properties": {..}, "timestamp": ..}`, `op`
//!   also `set` or `alias`), stamps `record`/`set` lines without a timestamp
//!   with the time they are read, and hands them to
//!   `kissmetrics::sender::Sender`. Invalid lines and undelivered calls are
//!   reported on stderr with their line numbers; a summary (`delivered 9,
//!   failed 1 (line 5), invalid 2 (lines 3, 7)`) goes to stdout; an
//!   indicatif progress bar shows on stderr when it is a terminal.
//! - **`km send --outbox DIR`** replays a `kissmetrics::outbox` directory
//!   through the same sender. Segments are claimed with exclusive locks, so
//!   runs that overlap (cron) never send an entry twice; entries still
//!   failing for a retryable reason are kept for the next run.
//! - **`km serve`** runs km-testkit on `127.0.0.1`, announces
//!   `km serve: listening on http://127.0.0.1:PORT` on stderr and prints each
//!   call it receives on stdout (`record bob "Signed Up" Plan=Pro`, or a JSON
//!   object with `--json`).
//! - **`km completions SHELL`** prints a completion script (clap_complete).
//!
//! # Exit status
//!
//! ```text
#![doc = include_str!("exit-status.txt")]
//! ```
#![forbid(unsafe_code)]

use std::ffi::OsString;
use std::io::{self, Write};
use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser};

mod batch;
mod cli;
mod connect;
mod deliver;
mod exit;
mod lines;
mod ops;
mod output;
mod send;
mod serve;
mod single;

use cli::{Cli, Command};
use exit::{Failure, Status};
use ops::{text_props, Op};

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(error) => return usage_error(&error, &args),
    };
    match run(cli) {
        Ok(()) => Status::Ok.into(),
        Err(failure) => {
            eprintln!("km: {}", failure.message());
            failure.status.into()
        }
    }
}

fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Record(args) => {
            if let Some(file) = &args.batch {
                return batch::run(&batch::Batch {
                    file,
                    connection: &args.connection,
                    delivery: &args.delivery,
                    dry_run: &args.dry_run,
                    json: args.json.json,
                });
            }
            if args.delivery.retry_for.is_some() || args.delivery.workers.is_some() {
                return Err(Failure::invalid(
                    "--retry-for and --workers apply to --batch only: a single call is sent once",
                ));
            }
            let (Some(person), Some(event)) = (args.person, args.event) else {
                return Err(Failure::invalid(
                    "record needs PERSON and EVENT, or --batch FILE",
                ));
            };
            let op = Op::Record {
                person,
                event,
                properties: text_props(args.properties),
                timestamp: args.timestamp,
            };
            single::run(
                &op,
                args.path.as_deref(),
                &args.connection,
                &args.dry_run,
                args.json.json,
            )
        }
        Command::Set(args) => {
            let op = Op::Set {
                person: args.person,
                properties: text_props(args.properties),
                timestamp: args.timestamp,
            };
            single::run(
                &op,
                args.path.as_deref(),
                &args.connection,
                &args.dry_run,
                args.json.json,
            )
        }
        Command::Alias(args) => {
            let op = Op::Alias {
                person: args.person,
                identity: args.identity,
            };
            single::run(
                &op,
                args.path.as_deref(),
                &args.connection,
                &args.dry_run,
                args.json.json,
            )
        }
        Command::Send(args) => send::run(&args),
        Command::Serve(args) => serve::run(&args),
        Command::Completions(args) => {
            let mut script = Vec::new();
            clap_complete::generate(args.shell, &mut Cli::command(), "km", &mut script);
            io::stdout()
                .write_all(&script)
                .and_then(|()| io::stdout().flush())
                .map_err(|e| Failure::other(format!("cannot write to stdout: {e}")))
        }
    }
}

/// Prints a clap error as one line on stderr, with any key on the command
/// line or in `KM_KEY` replaced by `***`; help and version go out as clap
/// renders them.
fn usage_error(error: &clap::Error, args: &[OsString]) -> ExitCode {
    match error.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            // Help never contains the key (the value of KM_KEY is hidden);
            // a closed stdout is nothing to report.
            let _ = error.print();
            return ExitCode::from(
                u8::try_from(error.exit_code()).unwrap_or(Status::Invalid as u8),
            );
        }
        _ => {}
    }
    let rendered = error.render().to_string();
    let message = clap_message(&rendered);
    eprintln!("km: {}", redact_secrets(&message, &secrets(args)));
    Status::Invalid.into()
}

/// The error paragraph and any tips of clap's rendering, on one line,
/// without the `error: ` prefix, plus where to look for help.
fn clap_message(rendered: &str) -> String {
    let paragraphs: Vec<&str> = rendered.split("\n\n").collect();
    let mut parts = Vec::new();
    for (i, paragraph) in paragraphs.iter().enumerate() {
        let trimmed = paragraph.trim();
        if i == 0 || trimmed.starts_with("tip:") {
            parts.push(exit::one_line(trimmed));
        }
    }
    let joined = parts.join("; ");
    let text = joined.strip_prefix("error: ").unwrap_or(&joined);
    format!("{text} (see --help)")
}

/// The values an API key may have been given as: after `--key`, in
/// `--key=...`, and in `KM_KEY`.
fn secrets(args: &[OsString]) -> Vec<String> {
    let mut found = Vec::new();
    let mut after_key = false;
    for arg in args {
        let arg = arg.to_string_lossy();
        if after_key {
            found.push(arg.to_string());
            after_key = false;
        } else if arg == "--key" {
            after_key = true;
        } else if let Some(value) = arg.strip_prefix("--key=") {
            found.push(value.to_owned());
        }
    }
    if let Some(value) = std::env::var_os("KM_KEY") {
        found.push(value.to_string_lossy().into_owned());
    }
    found.retain(|s| !s.is_empty());
    found
}

fn redact_secrets(text: &str, secrets: &[String]) -> String {
    secrets.iter().fold(text.to_owned(), |text, secret| {
        text.replace(secret.as_str(), "***")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_come_from_every_spelling_of_key() {
        let args: Vec<OsString> = ["km", "record", "--key", "-abc", "--key=def", "--keyx", "g"]
            .into_iter()
            .map(OsString::from)
            .collect();
        let found = secrets(&args);
        assert!(found.contains(&"-abc".to_owned()));
        assert!(found.contains(&"def".to_owned()));
        assert!(!found.contains(&"g".to_owned()));
        assert_eq!(redact_secrets("'-abc' and def", &found), "'***' and ***");
    }

    #[test]
    fn clap_errors_fold_to_one_line() {
        let rendered = "error: the following required arguments were not provided:\n  <EVENT>\n\n\
                        Usage: km record <PERSON> <EVENT>\n\nFor more information, try '--help'.\n";
        assert_eq!(
            clap_message(rendered),
            "the following required arguments were not provided: <EVENT> (see --help)"
        );
    }
}
