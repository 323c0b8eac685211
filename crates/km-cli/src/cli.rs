//! The command line: every subcommand, option and help text.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use clap_complete::Shell;
use kissmetrics::proto::http::Uri;
use kissmetrics::{Scheme, Timestamp};

/// The exit status table shown in help (the same file is in the crate docs).
macro_rules! exit_status {
    () => {
        concat!("Exit status:\n", include_str!("exit-status.txt"))
    };
}

const TOP_AFTER_HELP: &str = concat!(
    "\
Examples:
  export KM_KEY=0123456789abcdef            # preferred over --key, which `ps` shows
  km record bob@example.com \"Signed Up\" Plan=Pro Amount=99.95
  km set bob@example.com gender=male
  km alias bob bob@example.com
  km record bob \"Paid\" --timestamp 1381849312 --dry-run
  km record --batch events.jsonl
  km send --outbox /var/spool/km
  km serve --port 8787                       # then: --host 127.0.0.1:8787 --scheme http

Environment:
  KM_KEY                     the API key, used when --key is not given
  HTTP_PROXY, HTTPS_PROXY,   proxies, unless --proxy is given
  NO_PROXY

The key is never printed: --dry-run shows it as *** unless --show-key.
Property values are sent as text: Amount=99.95 sends the string \"99.95\".
Nothing is printed on success unless --json or --dry-run is given.

",
    exit_status!()
);

/// `km`: a command-line client for the KISSmetrics tracking service.
#[derive(Debug, Parser)]
#[command(
    name = "km",
    version,
    about = "Send KISSmetrics record/set/alias calls from scripts and cron, replay outboxes, \
             and watch what an integration sends",
    after_help = TOP_AFTER_HELP,
    arg_required_else_help = true,
    subcommand_required = true
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Record an event for a person (one call, or many with --batch)
    #[command(
        after_help = RECORD_AFTER_HELP,
        override_usage = "km record [OPTIONS] <PERSON> <EVENT> [NAME=VALUE]...\n       \
                          km record [OPTIONS] --batch <FILE>"
    )]
    Record(RecordArgs),
    /// Set properties on a person
    #[command(after_help = SET_AFTER_HELP)]
    Set(SetArgs),
    /// Alias two identities of one person
    #[command(after_help = ALIAS_AFTER_HELP)]
    Alias(AliasArgs),
    /// Replay the calls stored in an outbox directory
    #[command(after_help = SEND_AFTER_HELP)]
    Send(SendArgs),
    /// Run a local stand-in for the tracking service and print each call it receives
    #[command(after_help = SERVE_AFTER_HELP)]
    Serve(ServeArgs),
    /// Print a shell completion script
    #[command(after_help = COMPLETIONS_AFTER_HELP)]
    Completions(CompletionsArgs),
}

const RECORD_AFTER_HELP: &str = concat!(
    "\
Examples:
  km record bob@example.com \"Signed Up\" Plan=Pro
  km record bob \"Paid\" Amount=99.95 --timestamp 1381849312    # back-dated: _d=1&_t=...
  km record bob \"Signed Up\" --dry-run                          # print, send nothing
  km record bob \"Signed Up\" --json                             # {\"call\":\"record\",\"ok\":true,\"status\":200}
  km record --batch events.jsonl
  jq -c '{person: .user, event: .action}' events.json | km record --batch -

Batch lines (JSON, one object per line; blank lines are skipped):
  {\"person\": \"bob\", \"event\": \"Signed Up\", \"properties\": {\"Plan\": \"Pro\"}, \"timestamp\": 1381849312}
  {\"op\": \"set\", \"person\": \"bob\", \"properties\": {\"gender\": \"male\"}}
  {\"op\": \"alias\", \"person\": \"bob\", \"identity\": \"bob@example.com\"}
\"op\" defaults to \"record\"; \"properties\" and \"timestamp\" are optional. Property values may
be strings, numbers or booleans (sent as True/False). A record or set line without a
timestamp is stamped with the time it is read (_d=1, _t), so a retried call counts once.
The calls go through the background sender: --workers at once, retryable failures retried
for --retry-for seconds. An invalid line is reported on stderr with its line number and
skipped, as is each call that was not delivered; a progress bar shows on stderr when it is
a terminal. The summary goes to stdout:
  delivered 9, failed 1 (line 5), invalid 2 (lines 3, 7)
With --json: one object per invalid line or failed call, then {\"summary\": true, ...}.
With --dry-run: each request is printed and nothing is sent.

",
    exit_status!()
);

const SET_AFTER_HELP: &str = concat!(
    "\
Examples:
  km set bob@example.com gender=male \"Favorite Color=dark blue\"
  km set bob plan=Pro --timestamp 1381849312
  km set bob plan=Pro --dry-run --json

Each NAME=VALUE is split at its first '=': a=b=c sets a to \"b=c\".

",
    exit_status!()
);

const ALIAS_AFTER_HELP: &str = concat!(
    "\
Examples:
  km alias bob bob@example.com
  km alias 7f3a9c bob@example.com --dry-run

Aliasing cannot be undone; repeating the same alias is harmless.

",
    exit_status!()
);

const SEND_AFTER_HELP: &str = concat!(
    "\
Examples:
  km send --outbox /var/spool/km
  km send --outbox /var/spool/km --json --retry-for 120

Cron, every 5 minutes (runs that overlap are safe: an entry is sent by one run only):
  */5 * * * *  KM_KEY=0123456789abcdef km send --outbox /var/spool/km --retry-for 120 >/dev/null

The outbox is the directory a kissmetrics sender keeps requests in (see the kissmetrics
crate, module outbox); its entries carry no key, so use one outbox per API key. Each run
claims the segments no other process holds and replays them: delivered entries leave the
outbox; entries still failing for a retryable reason after --retry-for seconds are kept for
the next run; entries the service rejects (4xx) are reported on stderr and dropped; corrupt
entries are moved to quarantine/ and reported. The summary goes to stdout:
  replayed 12: delivered 11, failed 1, kept 0 for the next run, quarantined 0

",
    exit_status!()
);

const SERVE_AFTER_HELP: &str = "\
Examples:
  km serve --port 8787
  km record bob \"Signed Up\" Plan=Pro --key test --host 127.0.0.1:8787 --scheme http
      -> km serve prints: record bob \"Signed Up\" Plan=Pro
  km serve --json | jq .

The first line on stderr names the address (`km serve: listening on http://127.0.0.1:PORT`).
Only 127.0.0.1 is bound. Every request is answered 200 with a 1x1 GIF, as the service does.
Calls to other paths are printed as they came: GET /get?_k=***&_p=bob. The key is never
printed. Ctrl-C stops the server.";

const COMPLETIONS_AFTER_HELP: &str = "\
Examples:
  km completions bash > ~/.local/share/bash-completion/completions/km
  km completions zsh > \"${fpath[1]}/_km\"
  km completions fish > ~/.config/fish/completions/km.fish";

/// Where and how to send: shared by record, set, alias and send.
#[derive(Debug, Args)]
#[command(next_help_heading = "Connection")]
pub(crate) struct Connection {
    /// The API key. Prefer the KM_KEY environment variable: arguments are visible to other users in `ps`
    #[arg(
        long,
        value_name = "KEY",
        env = "KM_KEY",
        hide_env_values = true,
        allow_hyphen_values = true
    )]
    pub(crate) key: Option<String>,
    /// Send to this host instead of trk.kissmetrics.io
    #[arg(long, value_name = "HOST[:PORT]")]
    pub(crate) host: Option<String>,
    /// http or https
    #[arg(long, value_enum, default_value_t = SchemeArg::Https)]
    pub(crate) scheme: SchemeArg,
    /// Give up on a request after this many seconds (decimals allowed) [default: 10]
    #[arg(long, value_name = "SECS", value_parser = parse_timeout)]
    pub(crate) timeout: Option<Duration>,
    /// Send through this HTTP proxy (overrides HTTP_PROXY/HTTPS_PROXY)
    #[arg(long, value_name = "URL", value_parser = parse_proxy)]
    pub(crate) proxy: Option<Uri>,
}

/// How `--batch` and `send` deliver: through the background sender.
#[derive(Debug, Args)]
#[command(next_help_heading = "Delivery (send, record --batch)")]
pub(crate) struct DeliveryArgs {
    /// Retry a call that failed for a retryable reason (refused, reset, timeout, 408, 429, 5xx)
    /// for up to this many seconds; 0: never retry [default: 60]
    #[arg(long, value_name = "SECS", value_parser = parse_retry_for)]
    pub(crate) retry_for: Option<Duration>,
    /// Send up to N calls at once [default: 4]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub(crate) workers: Option<u16>,
}

/// `--json`.
#[derive(Debug, Args)]
pub(crate) struct JsonFlag {
    /// Print machine-readable JSON lines on stdout instead of text
    #[arg(long)]
    pub(crate) json: bool,
}

/// `--dry-run` and `--show-key`.
#[derive(Debug, Args)]
pub(crate) struct DryRun {
    /// Print the request that would be sent, and send nothing
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// With --dry-run: print the key instead of ***
    #[arg(long, requires = "dry_run")]
    pub(crate) show_key: bool,
}

/// `http` or `https`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum SchemeArg {
    /// Plain HTTP: the key travels in clear text
    Http,
    /// HTTPS
    Https,
}

impl From<SchemeArg> for Scheme {
    fn from(scheme: SchemeArg) -> Self {
        match scheme {
            SchemeArg::Http => Scheme::Http,
            SchemeArg::Https => Scheme::Https,
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct RecordArgs {
    /// The person (at most 255 characters)
    #[arg(required_unless_present = "batch")]
    pub(crate) person: Option<String>,
    /// The event name
    #[arg(required_unless_present = "batch")]
    pub(crate) event: Option<String>,
    /// Properties, each split at its first '='; values are sent as text
    #[arg(value_name = "NAME=VALUE", value_parser = parse_property)]
    pub(crate) properties: Vec<(String, String)>,
    /// Back-date the event to this Unix time in seconds (sends _d=1 and _t)
    #[arg(long, value_name = "SECS", value_parser = parse_timestamp, allow_negative_numbers = true)]
    pub(crate) timestamp: Option<u64>,
    /// Send the calls in FILE (JSON lines; - for stdin) through the background sender
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with_all = ["person", "event", "properties", "timestamp", "path"]
    )]
    pub(crate) batch: Option<PathBuf>,
    /// Send to this path instead of /e
    #[arg(long, value_name = "PATH")]
    pub(crate) path: Option<String>,
    #[command(flatten)]
    pub(crate) dry_run: DryRun,
    #[command(flatten)]
    pub(crate) json: JsonFlag,
    #[command(flatten)]
    pub(crate) connection: Connection,
    #[command(flatten)]
    pub(crate) delivery: DeliveryArgs,
}

#[derive(Debug, Args)]
pub(crate) struct SetArgs {
    /// The person (at most 255 characters)
    pub(crate) person: String,
    /// Properties, each split at its first '='; values are sent as text
    #[arg(value_name = "NAME=VALUE", required = true, value_parser = parse_property)]
    pub(crate) properties: Vec<(String, String)>,
    /// Back-date the properties to this Unix time in seconds (sends _d=1 and _t)
    #[arg(long, value_name = "SECS", value_parser = parse_timestamp, allow_negative_numbers = true)]
    pub(crate) timestamp: Option<u64>,
    /// Send to this path instead of /s
    #[arg(long, value_name = "PATH")]
    pub(crate) path: Option<String>,
    #[command(flatten)]
    pub(crate) dry_run: DryRun,
    #[command(flatten)]
    pub(crate) json: JsonFlag,
    #[command(flatten)]
    pub(crate) connection: Connection,
}

#[derive(Debug, Args)]
pub(crate) struct AliasArgs {
    /// One identity of the person (at most 255 characters)
    pub(crate) person: String,
    /// The other identity (at most 255 characters)
    pub(crate) identity: String,
    /// Send to this path instead of /a
    #[arg(long, value_name = "PATH")]
    pub(crate) path: Option<String>,
    #[command(flatten)]
    pub(crate) dry_run: DryRun,
    #[command(flatten)]
    pub(crate) json: JsonFlag,
    #[command(flatten)]
    pub(crate) connection: Connection,
}

#[derive(Debug, Args)]
pub(crate) struct SendArgs {
    /// The outbox directory to replay
    #[arg(long, value_name = "DIR")]
    pub(crate) outbox: PathBuf,
    #[command(flatten)]
    pub(crate) json: JsonFlag,
    #[command(flatten)]
    pub(crate) connection: Connection,
    #[command(flatten)]
    pub(crate) delivery: DeliveryArgs,
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Listen on this port of 127.0.0.1 (0: any free port)
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub(crate) port: u16,
    #[command(flatten)]
    pub(crate) json: JsonFlag,
}

#[derive(Debug, Args)]
pub(crate) struct CompletionsArgs {
    /// The shell to print the completion script for
    #[arg(value_enum)]
    pub(crate) shell: Shell,
}

/// `NAME=VALUE`, split at the first `=`.
fn parse_property(arg: &str) -> Result<(String, String), String> {
    match arg.split_once('=') {
        None => Err("expected NAME=VALUE, found no '='".to_owned()),
        Some(("", _)) => Err("expected NAME=VALUE, found an empty NAME".to_owned()),
        Some((name, value)) => Ok((name.to_owned(), value.to_owned())),
    }
}

/// Whole seconds since the Unix epoch; decimals are truncated toward zero.
fn parse_timestamp(arg: &str) -> Result<u64, String> {
    let timestamp = match arg.parse::<u64>() {
        Ok(secs) => return Ok(secs),
        Err(_) => match arg.parse::<f64>() {
            Ok(secs) => Timestamp::from(secs),
            Err(_) => return Err("expected seconds since 1970-01-01T00:00:00Z".to_owned()),
        },
    };
    timestamp.as_secs().map_err(|e| e.to_string())
}

/// Positive seconds, decimals allowed.
fn parse_timeout(arg: &str) -> Result<Duration, String> {
    let secs: f64 = arg
        .parse()
        .map_err(|_| "expected a number of seconds".to_owned())?;
    match Duration::try_from_secs_f64(secs) {
        Ok(d) if !d.is_zero() => Ok(d),
        _ => Err("expected a number of seconds greater than 0".to_owned()),
    }
}

/// Seconds, 0 or more, decimals allowed.
fn parse_retry_for(arg: &str) -> Result<Duration, String> {
    let secs: f64 = arg
        .parse()
        .map_err(|_| "expected a number of seconds".to_owned())?;
    Duration::try_from_secs_f64(secs)
        .map_err(|_| "expected a number of seconds, 0 or more".to_owned())
}

/// `http://host:port`.
fn parse_proxy(arg: &str) -> Result<Uri, String> {
    let uri: Uri = arg
        .parse()
        .map_err(|_| "expected a proxy URL such as http://proxy.example:3128".to_owned())?;
    if uri.scheme().is_none() || uri.authority().is_none() {
        return Err("expected a proxy URL such as http://proxy.example:3128".to_owned());
    }
    Ok(uri)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn the_exit_status_table_lists_every_status() {
        use crate::exit::Status;
        for status in [
            Status::Ok,
            Status::Other,
            Status::Invalid,
            Status::Transport,
            Status::Undelivered,
            Status::Partial,
        ] {
            let row = format!("  {}  ", status as u8);
            assert!(exit_status!().contains(&row), "{status:?}");
        }
        for help in [
            TOP_AFTER_HELP,
            RECORD_AFTER_HELP,
            SET_AFTER_HELP,
            ALIAS_AFTER_HELP,
            SEND_AFTER_HELP,
        ] {
            assert!(help.ends_with(include_str!("exit-status.txt")));
        }
    }

    #[test]
    fn properties_split_at_the_first_equals() {
        assert_eq!(parse_property("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert_eq!(parse_property("a="), Ok(("a".into(), String::new())));
        assert!(parse_property("a").is_err());
        assert!(parse_property("=b").is_err());
    }

    #[test]
    fn timestamps() {
        assert_eq!(parse_timestamp("1381849312"), Ok(1_381_849_312));
        assert_eq!(parse_timestamp("1381849312.9"), Ok(1_381_849_312));
        assert!(parse_timestamp("-1").unwrap_err().contains("negative"));
        assert!(parse_timestamp("NaN").is_err());
        assert!(parse_timestamp("soon").is_err());
    }

    #[test]
    fn timeouts_and_proxies() {
        assert_eq!(parse_timeout("2.5"), Ok(Duration::from_millis(2500)));
        assert!(parse_timeout("0").is_err());
        assert!(parse_timeout("-1").is_err());
        assert!(parse_timeout("inf").is_err());
        assert_eq!(parse_retry_for("0"), Ok(Duration::ZERO));
        assert!(parse_retry_for("-1").is_err());
        assert!(parse_proxy("http://127.0.0.1:3128").is_ok());
        assert!(parse_proxy("127.0.0.1:3128").is_err());
    }
}
