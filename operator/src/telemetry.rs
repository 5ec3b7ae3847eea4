//! Logs and traces: text or JSON logs on stderr, and, when an endpoint is configured,
//! OpenTelemetry spans exported over OTLP/HTTP (protobuf). Each reconcile is one span
//! (`reconcile`, with the profile's name and namespace) whose children are `plan`,
//! `networks`, `storage`, `vm` and `status`.

use anyhow::{Context, Result};
use clap::ValueEnum;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::{Resource, trace::SdkTracerProvider};
use tracing_subscriber::{EnvFilter, Layer, layer::SubscriberExt, util::SubscriberInitExt};

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line; `spans` lists the enclosing spans with their fields (the
    /// reconcile's profile and namespace).
    Json,
}

/// Keeps the trace exporter alive; dropping it flushes the spans not yet sent.
#[derive(Debug)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(error) = provider.shutdown()
        {
            eprintln!("flushing the last spans failed: {error}");
        }
    }
}

/// The OTLP/HTTP traces URL of a collector's base endpoint, as the OTLP specification
/// derives it from `OTEL_EXPORTER_OTLP_ENDPOINT`.
pub fn traces_url(endpoint: &str) -> String {
    format!("{}/v1/traces", endpoint.trim_end_matches('/'))
}

/// Installs the global subscriber: `filter` (a `RUST_LOG` directive) for the log lines,
/// and every span at info and above for the OTLP export when `otlp_endpoint` is set.
pub fn init(filter: &str, format: LogFormat, otlp_endpoint: Option<&str>) -> Result<Telemetry> {
    let filter = EnvFilter::try_new(filter).context("--log")?;
    let logs = match format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(false)
            .with_span_list(true)
            .with_writer(std::io::stderr)
            .boxed(),
    }
    .with_filter(filter);
    let (traces, provider) = match otlp_endpoint.filter(|e| !e.is_empty()) {
        None => (None, None),
        Some(endpoint) => {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_protocol(Protocol::HttpBinary)
                .with_endpoint(traces_url(endpoint))
                .build()
                .with_context(|| format!("the OTLP exporter for {endpoint}"))?;
            let provider = SdkTracerProvider::builder()
                .with_batch_exporter(exporter)
                .with_resource(Resource::builder().with_service_name("vm-operator").build())
                .build();
            let layer = tracing_opentelemetry::layer()
                .with_tracer(provider.tracer("vm-operator"))
                // Our spans only: not the exporter's own HTTP client, nor every watch request.
                .with_filter(EnvFilter::new("vmop_controller=info,vm_operator=info"));
            (Some(layer), Some(provider))
        }
    };
    tracing_subscriber::registry()
        .with(logs)
        .with(traces)
        .try_init()
        .context("installing the log subscriber")?;
    Ok(Telemetry { provider })
}
