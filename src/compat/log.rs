//! The error log: one line per failed send, appended to a file.

use std::fmt;
use std::fs::OpenOptions;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use km_proto::{ApiKey, Call, Endpoint};

use super::time::UtcTime;

/// Where the reference client's `log_file()` points, and where
/// [`ClientCompat`](super::ClientCompat) appends unless told otherwise.
pub const DEFAULT_LOG_FILE: &str = "/tmp/kissmetrics_error.log";

/// Serialises this process's writers; `O_APPEND` already keeps single writes
/// from different processes whole.
static WRITING: Mutex<()> = Mutex::new(());

/// Why a line could not be appended to the error log.
///
/// Reported next to the send error it was about
/// ([`CompatError::Send`](super::CompatError::Send)); it never replaces it.
///
/// ```
/// use kissmetrics::compat::LogError;
/// let e = LogError::Symlink { path: "/tmp/kissmetrics_error.log".into() };
/// assert_eq!(
///     e.to_string(),
///     "refused to write the error log \"/tmp/kissmetrics_error.log\": it is a symbolic link"
/// );
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum LogError {
    /// The log path is a symbolic link, which is never followed.
    Symlink {
        /// The log path.
        path: PathBuf,
    },
    /// The log path exists but is not a regular file (a directory, a FIFO …).
    NotAFile {
        /// The log path.
        path: PathBuf,
    },
    /// Opening or writing the file failed.
    Io {
        /// The log path.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
}

impl fmt::Display for LogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogError::Symlink { path } => write!(
                f,
                "refused to write the error log {path:?}: it is a symbolic link"
            ),
            LogError::NotAFile { path } => write!(
                f,
                "refused to write the error log {path:?}: it is not a regular file"
            ),
            LogError::Io { path, source } => {
                write!(f, "could not write the error log {path:?}: {source}")
            }
        }
    }
}

impl std::error::Error for LogError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LogError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Keys shorter than this are not searched for in error texts: such short
/// strings turn up by chance (real keys are 32 or more characters).
const MIN_SCRUBBED_KEY: usize = 8;

/// The line logged for a failed send: UTC time, call, endpoint and error,
/// on one line, without the API key.
///
/// The error text comes from the transport, so the key is taken out
/// wherever it may be quoted: as the `_k=` pair of a URL, and as its own
/// text when it is long enough to search for.
pub(super) fn line(
    time: UtcTime,
    call: Call,
    endpoint: &Endpoint,
    error: &dyn fmt::Display,
    key: &ApiKey,
) -> String {
    let error = error.to_string();
    let mut error = km_proto::redact_key(&error).into_owned();
    if key.expose_secret().len() >= MIN_SCRUBBED_KEY {
        error = error.replace(key.expose_secret(), "***");
    }
    let line = format!("{time} {call}: Could not transmit to {endpoint}: {error}");
    // One entry per line, whatever the error's text holds.
    let mut line = line.replace(|c: char| c.is_control(), " ");
    line.push('\n');
    line
}

/// Appends `line` to the file at `path` with a single write: created with
/// mode 0600, opened append-only, never through a symbolic link, never
/// blocking on a FIFO.
pub(super) fn append(path: &Path, line: &str) -> Result<(), LogError> {
    let mut options = OpenOptions::new();
    options.append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    let io_error = |source| LogError::Io {
        path: path.to_owned(),
        source,
    };
    // Without `O_NOFOLLOW`, check first (racy, but better than following).
    #[cfg(not(unix))]
    if path.symlink_metadata().is_ok_and(|m| m.is_symlink()) {
        return Err(LogError::Symlink {
            path: path.to_owned(),
        });
    }
    let _guard = WRITING.lock().unwrap_or_else(PoisonError::into_inner);
    let file = match options.open(path) {
        Ok(file) => file,
        // `O_NOFOLLOW` fails with ELOOP (EMLINK on some BSDs): say why.
        Err(_) if path.symlink_metadata().is_ok_and(|m| m.is_symlink()) => {
            return Err(LogError::Symlink {
                path: path.to_owned(),
            })
        }
        Err(e) => return Err(io_error(e)),
    };
    if !file.metadata().map_err(io_error)?.is_file() {
        return Err(LogError::NotAFile {
            path: path.to_owned(),
        });
    }
    (&file).write_all(line.as_bytes()).map_err(io_error)
}
