//! `km record`, `km set` and `km alias` with one call each.

use serde_json::json;

use crate::cli::{Connection, DryRun};
use crate::exit::Failure;
use crate::ops::Op;
use crate::output;

/// Encodes `op`, then prints it (`--dry-run`) or sends it and reports.
pub(crate) fn run(
    op: &Op,
    path: Option<&str>,
    connection: &Connection,
    dry_run: &DryRun,
    json: bool,
) -> Result<(), Failure> {
    let call = op.call();
    let encoder = connection.encoder()?;
    let request = op
        .encode(&encoder, path)
        .map_err(|e| Failure::invalid(format!("{call}: {e}")))?;
    if dry_run.dry_run {
        return if json {
            output::json_line(&output::request_json(call, &request, dry_run.show_key))
        } else {
            output::line(&output::request_line(&request, dry_run.show_key))
        };
    }
    let client = connection.client()?;
    match client.send(request) {
        Ok(response) => {
            if json {
                output::json_line(&json!({
                    "ok": true,
                    "call": call.as_str(),
                    "status": response.status().as_u16(),
                }))?;
            }
            Ok(())
        }
        Err(error) => {
            if json {
                output::json_line(&output::failure_json(call, &error))?;
            }
            Err(Failure::new(
                output::status_of(&error),
                format!("{call}: {error}"),
            ))
        }
    }
}
