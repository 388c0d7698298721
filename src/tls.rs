//! TLS for the service's outgoing HTTP clients (the identity provider's keys, webhook
//! deliveries): rustls with ring and the system's root certificates, set on each client's
//! connector only (nothing process-wide).

use hyper_rustls::{HttpsConnectorBuilder, builderstates::WantsSchemes};

/// A connector builder with the system's root certificates; without any (a bare image) it
/// still builds, and only https URLs fail. `what` names the client in the warning.
pub fn connector_builder(what: &str) -> HttpsConnectorBuilder<WantsSchemes> {
    let provider = rustls::crypto::ring::default_provider();
    match HttpsConnectorBuilder::new().with_provider_and_native_roots(provider) {
        Ok(builder) => builder,
        Err(err) => {
            tracing::warn!(error = %err, "no root certificates: https {what} will fail");
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
    }
}
