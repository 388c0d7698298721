//! GET a JSON document from the identity provider (its discovery document, its keys),
//! bounded in time and size, over http or https (TLS: `crate::tls`).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::{Request, Uri, header};
use hyper_rustls::HttpsConnector;
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
        let builder = crate::tls::connector_builder("issuers");
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
