//! OpenTelemetry trace export over OTLP/HTTP, configured by the standard `OTEL_*` variables
//! only. It is off unless `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`
//! is set (an empty value counts as unset); `OTEL_SDK_DISABLED=true` or
//! `OTEL_TRACES_EXPORTER=none` turn it off again. The SDK reads the rest itself: headers,
//! timeouts, sampler, batch settings, resource attributes.

use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::{Key, KeyValue, trace::TracerProvider as _};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::{
    Resource,
    resource::{EnvResourceDetector, ResourceDetector},
    trace::{SdkTracer, SdkTracerProvider},
};
use tracing::{Level, Metadata};

const ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
const TRACES_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
const PROTOCOL: &str = "OTEL_EXPORTER_OTLP_PROTOCOL";
const TRACES_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL";
const SDK_DISABLED: &str = "OTEL_SDK_DISABLED";
const TRACES_EXPORTER: &str = "OTEL_TRACES_EXPORTER";
const SERVICE_NAME: &str = "OTEL_SERVICE_NAME";

/// Set once the OpenTelemetry layer is installed; the request middleware asks it before
/// doing any OpenTelemetry work, so a service without tracing does none.
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// Whether spans are exported (the OpenTelemetry layer is installed).
pub fn active() -> bool {
    ACTIVE.load(Ordering::Relaxed)
}

pub(super) fn mark_active() {
    ACTIVE.store(true, Ordering::Relaxed);
}

/// `OTEL_*` settings this service cannot honour; start-up stops, as for a bad config file.
#[derive(Debug, thiserror::Error)]
pub enum OtelError {
    #[error("{name}={value:?} is not supported: {hint}")]
    Unsupported {
        name: &'static str,
        value: String,
        hint: &'static str,
    },
    #[error("cannot set up trace export: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
}

/// What the environment asks for when export is on.
#[derive(Debug, PartialEq)]
pub struct Export {
    /// For the start-up log line; the SDK reads the variable itself.
    pub endpoint: String,
    pub protocol: Protocol,
}

/// Reads the switches from `var` (the process environment in production, a map in tests).
/// `Ok(None)`: no export.
pub fn export_from(var: impl Fn(&str) -> Option<String>) -> Result<Option<Export>, OtelError> {
    // The SDK treats an empty value as unset; so does this (compose passes `VAR: ""`).
    let var = |name: &str| var(name).filter(|value| !value.is_empty());
    if var(SDK_DISABLED).is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
        return Ok(None);
    }
    if let Some(exporter) = var(TRACES_EXPORTER) {
        match exporter.trim().to_ascii_lowercase().as_str() {
            "otlp" => {}
            "none" => return Ok(None),
            _ => {
                return Err(OtelError::Unsupported {
                    name: TRACES_EXPORTER,
                    value: exporter,
                    hint: "use otlp (the default) or none",
                });
            }
        }
    }
    let Some((endpoint_var, endpoint)) = [TRACES_ENDPOINT, ENDPOINT]
        .into_iter()
        .find_map(|name| Some((name, var(name)?)))
    else {
        return Ok(None);
    };
    // Only a plain-HTTP client is built in (no TLS stack): the usual target is a collector
    // next to the service. Say so now rather than fail every export later.
    if !endpoint
        .trim_start()
        .to_ascii_lowercase()
        .starts_with("http://")
    {
        return Err(OtelError::Unsupported {
            name: endpoint_var,
            value: endpoint,
            hint: "use an http:// URL, such as http://localhost:4318 (a collector next to the \
                   service; this build has no TLS client)",
        });
    }
    let protocol = match [TRACES_PROTOCOL, PROTOCOL]
        .into_iter()
        .find_map(|name| Some((name, var(name)?)))
    {
        None => Protocol::HttpBinary,
        Some((_, value)) if value == "http/protobuf" => Protocol::HttpBinary,
        Some((_, value)) if value == "http/json" => Protocol::HttpJson,
        Some((name, value)) => {
            return Err(OtelError::Unsupported {
                name,
                value,
                hint: "use http/protobuf (the default) or http/json; gRPC is not built in",
            });
        }
    };
    Ok(Some(Export { endpoint, protocol }))
}

/// The tracer provider: OTLP/HTTP exporter behind the SDK's batch processor (its own thread;
/// `OTEL_BSP_*` apply), sampler from `OTEL_TRACES_SAMPLER`, resource from the environment.
pub fn provider(export: &Export) -> Result<SdkTracerProvider, OtelError> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(export.protocol)
        .build()?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource())
        .build())
}

pub fn tracer(provider: &SdkTracerProvider) -> SdkTracer {
    provider.tracer(env!("CARGO_PKG_NAME"))
}

/// The SDK's resource (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, SDK attributes), with
/// this package's name and version where the environment names none: the SDK's own default
/// name is `unknown_service`.
fn resource() -> Resource {
    let from_env = EnvResourceDetector::new().detect();
    let mut builder = Resource::builder();
    let name_set = std::env::var(SERVICE_NAME).is_ok_and(|name| !name.is_empty())
        || from_env.get(&Key::new("service.name")).is_some();
    if !name_set {
        builder = builder.with_service_name(env!("CARGO_PKG_NAME"));
    }
    if from_env.get(&Key::new("service.version")).is_none() {
        builder =
            builder.with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")));
    }
    builder.build()
}

/// The spans the OpenTelemetry layer sees: this crate's and SeaORM's statement spans, at INFO
/// or above. Events stay in the logs. Spans of other crates stay out too, the HTTP client
/// that exports included: its spans would be exported in turn.
pub fn exported(meta: &Metadata<'_>) -> bool {
    meta.is_span()
        && *meta.level() <= Level::INFO
        && (meta.target().starts_with(env!("CARGO_CRATE_NAME")) || is_db_span(meta))
}

/// SeaORM's per-statement spans (its `tracing-spans` feature): for the exporter only.
pub fn is_db_span(meta: &Metadata<'_>) -> bool {
    meta.is_span() && meta.target().starts_with("sea_orm")
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn export(vars: &[(&str, &str)]) -> Result<Option<Export>, OtelError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        export_from(|name| vars.get(name).cloned())
    }

    #[test]
    fn off_without_an_endpoint() {
        assert_eq!(export(&[]).unwrap(), None);
        assert_eq!(export(&[(ENDPOINT, "")]).unwrap(), None);
        assert_eq!(
            export(&[(TRACES_ENDPOINT, ""), (ENDPOINT, "")]).unwrap(),
            None
        );
        // Other settings alone do not turn it on.
        assert_eq!(
            export(&[(SERVICE_NAME, "notes"), (PROTOCOL, "http/json")]).unwrap(),
            None
        );
    }

    #[test]
    fn on_with_either_endpoint_variable() {
        let on = export(&[(ENDPOINT, "http://collector:4318")])
            .unwrap()
            .unwrap();
        assert_eq!(on.protocol, Protocol::HttpBinary);
        let on = export(&[(TRACES_ENDPOINT, "http://c:4318/v1/traces"), (ENDPOINT, "")])
            .unwrap()
            .unwrap();
        assert_eq!(on.endpoint, "http://c:4318/v1/traces");
    }

    #[test]
    fn disabled_and_none_win_over_an_endpoint() {
        let endpoint = (ENDPOINT, "http://collector:4318");
        assert_eq!(export(&[endpoint, (SDK_DISABLED, "true")]).unwrap(), None);
        assert_eq!(export(&[endpoint, (SDK_DISABLED, "TRUE")]).unwrap(), None);
        assert_eq!(
            export(&[endpoint, (TRACES_EXPORTER, "none")]).unwrap(),
            None
        );
        assert!(
            export(&[endpoint, (SDK_DISABLED, "false")])
                .unwrap()
                .is_some()
        );
        assert!(
            export(&[endpoint, (TRACES_EXPORTER, "otlp")])
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn protocol_signal_variable_first() {
        let endpoint = (ENDPOINT, "http://collector:4318");
        let json = export(&[endpoint, (PROTOCOL, "http/json")])
            .unwrap()
            .unwrap();
        assert_eq!(json.protocol, Protocol::HttpJson);
        let proto = export(&[
            endpoint,
            (PROTOCOL, "http/json"),
            (TRACES_PROTOCOL, "http/protobuf"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(proto.protocol, Protocol::HttpBinary);
    }

    #[test]
    fn unsupported_values_are_named() {
        let endpoint = (ENDPOINT, "http://collector:4318");
        for (vars, needle) in [
            (
                vec![endpoint, (PROTOCOL, "grpc")],
                "OTEL_EXPORTER_OTLP_PROTOCOL=\"grpc\"",
            ),
            (
                vec![endpoint, (TRACES_EXPORTER, "zipkin")],
                "OTEL_TRACES_EXPORTER=\"zipkin\"",
            ),
            (
                vec![(ENDPOINT, "https://api.example.com")],
                "OTEL_EXPORTER_OTLP_ENDPOINT=\"https://api.example.com\"",
            ),
        ] {
            let err = export(&vars).unwrap_err().to_string();
            assert!(err.contains(needle), "{err}");
        }
    }
}
