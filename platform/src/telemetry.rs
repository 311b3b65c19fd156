//! Logs, traces and metrics.
//!
//! - `tracing` everywhere; pretty logs locally, JSON in production.
//! - OpenTelemetry OTLP export (gRPC) when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, with the W3C
//!   `traceparent` propagator, so a caller's trace continues through every service.
//! - RED metrics per RPC (requests by code, latency histogram) in a Prometheus registry served at
//!   `/metrics`.

use std::sync::{Arc, OnceLock};

use anyhow::Context;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::{LogFormat, TelemetryConfig};

/// Flushes buffered spans when dropped (at shutdown).
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(error) = provider.shutdown()
        {
            eprintln!("flushing traces failed: {error}");
        }
    }
}

/// Installs the global subscriber. Call once, inside the tokio runtime (the OTLP exporter needs
/// it). `service_name` names this process in traces.
pub fn init(config: &TelemetryConfig, service_name: &str) -> anyhow::Result<TelemetryGuard> {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.log_level))
        .with_context(|| {
            format!(
                "invalid configuration: telemetry.log_level = {:?}",
                config.log_level
            )
        })?;
    let fmt_layer = match config.log_format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .boxed(),
        LogFormat::Pretty => tracing_subscriber::fmt::layer().compact().boxed(),
    };

    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    let provider = match std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT") {
        Ok(endpoint) if !endpoint.is_empty() => {
            // The exporter reads the endpoint (and OTEL_EXPORTER_OTLP_* options) itself.
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .build()
                .context("building the OTLP span exporter")?;
            let resource = opentelemetry_sdk::Resource::builder()
                .with_service_name(service_name.to_string())
                .build();
            Some(
                SdkTracerProvider::builder()
                    .with_batch_exporter(exporter)
                    .with_resource(resource)
                    .build(),
            )
        }
        _ => None,
    };
    // Traces keep every INFO span whatever the log level: quieting logs must not cut traces.
    let otel_layer = provider.as_ref().map(|provider| {
        opentelemetry::global::set_tracer_provider(provider.clone());
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("lms"))
            .with_filter(tracing_subscriber::filter::LevelFilter::INFO)
    });

    tracing_subscriber::registry()
        .with(fmt_layer.with_filter(filter))
        .with(otel_layer)
        .try_init()
        .context("installing the tracing subscriber")?;
    Ok(TelemetryGuard { provider })
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RpcLabels {
    /// `lms.pathway.v1.PathwayService`
    pub service: String,
    /// `CreatePathway`
    pub method: String,
    /// gRPC status name, `OK`, `NOT_FOUND`, ...
    pub code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RpcMethodLabels {
    pub service: String,
    pub method: String,
}

/// The process's metrics: one registry whatever the number of components running.
pub struct Metrics {
    pub registry: Registry,
    pub rpc_requests: Family<RpcLabels, Counter>,
    pub rpc_duration_seconds: Family<RpcMethodLabels, Histogram>,
    /// When the service token obtained by client credentials expires (Unix time; 0: none).
    pub service_token_expiry: Gauge,
    /// Failed attempts to obtain a service token from the identity provider.
    pub service_token_renewal_failures: Counter,
}

/// The process-wide metrics registry.
pub fn metrics() -> &'static Arc<Metrics> {
    static METRICS: OnceLock<Arc<Metrics>> = OnceLock::new();
    METRICS.get_or_init(|| {
        let mut registry = Registry::with_prefix("lms");
        let rpc_requests = Family::<RpcLabels, Counter>::default();
        registry.register(
            "grpc_server_handled",
            "gRPC calls completed, by service, method and status code",
            rpc_requests.clone(),
        );
        let rpc_duration_seconds =
            Family::<RpcMethodLabels, Histogram>::new_with_constructor(|| {
                // 0.5 ms .. ~16 s
                Histogram::new(exponential_buckets(0.0005, 2.0, 16))
            });
        registry.register(
            "grpc_server_handling_seconds",
            "gRPC call latency until the response headers, by service and method",
            rpc_duration_seconds.clone(),
        );
        let service_token_expiry = Gauge::default();
        registry.register(
            "service_token_expiry_timestamp_seconds",
            "When the service token this process obtained from the identity provider expires \
             (Unix time; 0 before the first)",
            service_token_expiry.clone(),
        );
        let service_token_renewal_failures = Counter::default();
        registry.register(
            "service_token_renewal_failures",
            "Failed attempts to obtain a service token from the identity provider",
            service_token_renewal_failures.clone(),
        );
        Arc::new(Metrics {
            registry,
            rpc_requests,
            rpc_duration_seconds,
            service_token_expiry,
            service_token_renewal_failures,
        })
    })
}

/// The metrics in Prometheus text format.
pub fn render_metrics() -> String {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &metrics().registry)
        .expect("encoding into a String cannot fail");
    text
}

/// Serves `/metrics` on `listener` until `shutdown` completes.
pub async fn serve_metrics(
    listener: tokio::net::TcpListener,
    shutdown: tokio_util::sync::CancellationToken,
) -> anyhow::Result<()> {
    use axum::http::header::CONTENT_TYPE;
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(|| async {
            (
                [(
                    CONTENT_TYPE,
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                )],
                render_metrics(),
            )
        }),
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
        .context("metrics endpoint")
}

/// The W3C `traceparent` of the current span ("" without telemetry), so a call or a delivery
/// made now joins the trace that caused it.
pub fn current_traceparent() -> String {
    use opentelemetry::propagation::Injector;
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    struct One(String);
    impl Injector for One {
        fn set(&mut self, key: &str, value: String) {
            if key == "traceparent" {
                self.0 = value;
            }
        }
    }
    let context = tracing::Span::current().context();
    let mut carrier = One(String::new());
    opentelemetry::global::get_text_map_propagator(|p| p.inject_context(&context, &mut carrier));
    carrier.0
}
