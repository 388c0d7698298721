//! GET a JSON document from the identity provider (its discovery document, its keys),
//! bounded in time and size, over http or https. TLS is rustls with ring and the system's
//! root certificates, set on this client's connector only (nothing process-wide).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::{Request, Uri, header};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use serde_json::Value;

/// The largest document read.
const MAX_DOCUMENT_BYTES: usize = 1 << 20;

#[derive(Clone)]
pub struct JsonFetcher {
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
    timeout: Duration,
}

impl JsonFetcher {
    /// `timeout` bounds each whole request, body included.
    pub fn new(timeout: Duration) -> Self {
        let provider = rustls::crypto::ring::default_provider();
        let builder = HttpsConnectorBuilder::new();
        let builder = match builder.with_provider_and_native_roots(provider) {
            Ok(builder) => builder,
            // No system certificates (a bare image): http issuers still work.
            Err(err) => {
                tracing::warn!(error = %err, "no root certificates: https issuers will fail");
                let config = rustls::ClientConfig::builder_with_provider(
                    rustls::crypto::ring::default_provider().into(),
                )
                .with_safe_default_protocol_versions()
                .map(|config| {
                    config
                        .with_root_certificates(rustls::RootCertStore::empty())
                        .with_no_client_auth()
                });
                match config {
                    Ok(config) => HttpsConnectorBuilder::new().with_tls_config(config),
                    Err(err) => unreachable!("ring supports the default TLS versions: {err}"),
                }
            }
        };
        let connector = builder.https_or_http().enable_http1().build();
        Self {
            client: Client::builder(TokioExecutor::new()).build(connector),
            timeout,
        }
    }

    pub async fn get(&self, url: &str) -> Result<Value, String> {
        let fail = |why: &dyn std::fmt::Display| format!("{url}: {why}");
        let uri: Uri = url.parse().map_err(|err| fail(&err))?;
        let request = Request::get(uri)
            .header(header::ACCEPT, "application/json")
            .body(Empty::new())
            .map_err(|err| fail(&err))?;
        let fetch = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|err| fail(&err))?;
            if !response.status().is_success() {
                return Err(fail(&format!("answered {}", response.status())));
            }
            let body = Limited::new(response.into_body(), MAX_DOCUMENT_BYTES)
                .collect()
                .await
                .map_err(|err| fail(&err))?
                .to_bytes();
            serde_json::from_slice(&body).map_err(|err| fail(&format!("not JSON: {err}")))
        };
        tokio::time::timeout(self.timeout, fetch)
            .await
            .map_err(|_| fail(&format!("no answer within {:?}", self.timeout)))?
    }
}
