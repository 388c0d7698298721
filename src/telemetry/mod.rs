//! Logging and tracing: human-readable or JSON lines (`init`), one line per request with its
//! request id (`request_log`), and opt-in OpenTelemetry trace export over OTLP/HTTP (`otel`
//! decides and builds it, `request_span` fills in the request's span).

pub mod otel;
pub mod request_log;
pub mod request_span;

use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::level_filters::LevelFilter;
use tracing_subscriber::{
    EnvFilter, Layer, Registry,
    filter::{FilterExt, filter_fn},
    layer::SubscriberExt,
    util::SubscriberInitExt,
};

use crate::config::{LogFormat, LogSettings};

/// What [`init`] installed. Keep it until the server has stopped, then call
/// [`Telemetry::shutdown`] so the last spans are exported.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Exports the spans still buffered and stops the exporter. Blocks (the SDK gives up
    /// after 5 seconds, e.g. when the collector is gone).
    pub fn shutdown(self) {
        if let Some(provider) = self.provider
            && let Err(err) = provider.shutdown()
        {
            tracing::warn!(error = %err, "exporting the last spans failed");
        }
    }
}

/// Installs the global subscriber: the log layer (`RUST_LOG`, when set, overrides
/// `log.level`), and the OpenTelemetry layer when the `OTEL_*` variables ask for export.
/// A second call (tests start many apps in one process) installs nothing.
pub fn init(settings: &LogSettings) -> Result<Telemetry, otel::OtelError> {
    let export = otel::export_from(|name| std::env::var(name).ok())?;
    let provider = match &export {
        // The SDK reports odd `OTEL_*` values (an unknown sampler, say) as log events while
        // it is built: let them reach the log.
        Some(export) => Some(tracing::subscriber::with_default(
            tracing_subscriber::registry().with(log_layer(settings)),
            || otel::provider(export),
        )?),
        None => None,
    };
    // Only this layer sees SeaORM's statement spans (`log_layer` leaves them out): with no
    // exporter, nothing wants them and their call sites stay disabled.
    let otel_layer = provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(otel::tracer(provider))
            .with_location(false)
            .with_threads(false)
            .with_target(false)
            .with_tracked_inactivity(false)
            .with_filter(filter_fn(otel::exported).with_max_level_hint(LevelFilter::INFO))
    });
    let installed = tracing_subscriber::registry()
        .with(log_layer(settings))
        .with(otel_layer)
        .try_init()
        .is_ok();
    let provider = provider.filter(|_| installed);
    if let (Some(export), Some(_)) = (&export, &provider) {
        otel::mark_active();
        tracing::info!(
            endpoint = %migration::redact_url(&export.endpoint),
            protocol = ?export.protocol,
            "exporting traces over OTLP/HTTP"
        );
    }
    Ok(Telemetry { provider })
}

/// Log lines, filtered by level; SeaORM's statement spans are left out of them.
fn log_layer(settings: &LogSettings) -> Box<dyn Layer<Registry> + Send + Sync> {
    let levels =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.level));
    let no_db_spans = filter_fn(|meta| !otel::is_db_span(meta))
        // Lets everything else through: keeps the level filter's hint as the maximum level.
        .with_max_level_hint(LevelFilter::TRACE);
    let filter = levels.and(no_db_spans);
    // Colours only on a terminal: log files and collectors get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let layer = tracing_subscriber::fmt::layer().with_ansi(ansi);
    match settings.format {
        LogFormat::Json => layer.json().flatten_event(true).with_filter(filter).boxed(),
        LogFormat::Pretty => layer.with_filter(filter).boxed(),
    }
}
