//! Exit statuses and the one-line failure message that goes with them.

use std::fmt;
use std::process::ExitCode;

/// The exit statuses of `km`; the table in the crate docs and in
/// `km --help` lists the same values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    /// Delivered (or printed, with `--dry-run`).
    Ok = 0,
    /// Anything else: a file or directory that cannot be read, a port that
    /// cannot be bound, output that cannot be written.
    Other = 1,
    /// Usage error or invalid input; nothing was sent. clap uses 2 for
    /// usage errors too.
    Invalid = 2,
    /// The request could not be carried (refused, reset, timeout, TLS).
    Transport = 3,
    /// The service answered with a status that does not mean "delivered".
    Undelivered = 4,
    /// `--batch` or `send`: some calls were not delivered or some lines
    /// were invalid.
    Partial = 5,
}

impl From<Status> for ExitCode {
    fn from(status: Status) -> Self {
        ExitCode::from(status as u8)
    }
}

/// Why `km` stops with a non-zero status: the status and a one-line message.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) status: Status,
    message: String,
}

impl Failure {
    pub(crate) fn new(status: Status, message: impl fmt::Display) -> Self {
        Failure {
            status,
            message: one_line(&message.to_string()),
        }
    }

    /// Invalid input (status 2).
    pub(crate) fn invalid(message: impl fmt::Display) -> Self {
        Failure::new(Status::Invalid, message)
    }

    /// Anything else (status 1).
    pub(crate) fn other(message: impl fmt::Display) -> Self {
        Failure::new(Status::Other, message)
    }

    pub(crate) fn message(&self) -> &str {
        &self.message
    }
}

/// Folds line breaks so every message stays on one line.
pub(crate) fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for part in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if out.ends_with(':') {
            out.push(' ');
        } else if !out.is_empty() {
            out.push_str("; ");
        }
        out.push_str(part);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_fold_to_one_line() {
        assert_eq!(one_line("a\n\n  b\r\nc  "), "a; b; c");
        assert_eq!(
            one_line("missing:\n  <EVENT>\n  <X>"),
            "missing: <EVENT>; <X>"
        );
        assert_eq!(Failure::invalid("x\ny").message(), "x; y");
        assert_eq!(Failure::invalid("x").status, Status::Invalid);
    }
}
