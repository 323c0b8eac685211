//! From the connection options to an encoder and a client.

use kissmetrics::proto::{Encoder, DEFAULT_HOST};
use kissmetrics::{Client, ClientBuilder, Endpoint, Error, Scheme};

use crate::cli::Connection;
use crate::exit::Failure;

impl Connection {
    /// The API key from `--key` or `KM_KEY`.
    pub(crate) fn api_key(&self) -> Result<&str, Failure> {
        match self.key.as_deref() {
            Some(key) if !key.is_empty() => Ok(key),
            Some(_) => Err(Failure::invalid(
                "the API key is empty: set KM_KEY (preferred) or pass --key",
            )),
            None => Err(Failure::invalid(
                "no API key: set KM_KEY (preferred) or pass --key",
            )),
        }
    }

    /// The encoder for this key and endpoint: what `--dry-run` prints and
    /// what is sent are built by the same one.
    pub(crate) fn encoder(&self) -> Result<Encoder, Failure> {
        let host = self.host.as_deref().unwrap_or(DEFAULT_HOST);
        let endpoint = Endpoint::new(Scheme::from(self.scheme), host)
            .map_err(|e| Failure::invalid(format!("--host: {e}")))?;
        Encoder::with_endpoint(self.api_key()?, endpoint).map_err(Failure::invalid)
    }

    /// A client builder with every connection option applied.
    pub(crate) fn builder(&self) -> Result<ClientBuilder, Failure> {
        let mut builder = Client::builder(self.api_key()?).scheme(self.scheme.into());
        if let Some(host) = &self.host {
            builder = builder.host(host);
        }
        if let Some(timeout) = self.timeout {
            builder = builder.timeout(timeout);
        }
        if let Some(proxy) = &self.proxy {
            builder = builder.proxy(proxy.clone());
        }
        Ok(builder)
    }

    /// A blocking client over the default transport (ureq).
    pub(crate) fn client(&self) -> Result<Client, Failure> {
        self.builder()?.build().map_err(setup_failure)
    }
}

/// A client that cannot be built: the options are at fault.
pub(crate) fn setup_failure(e: Error) -> Failure {
    Failure::invalid(format!("cannot set up the client: {e}"))
}
