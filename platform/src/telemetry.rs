//! Logs, traces and metrics.
//!
//! - `tracing` everywhere; pretty logs locally, JSON in production.
//! - OpenTelemetry OTLP export (gRPC) when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (the standard
//!   `OTEL_*` variables are honoured: service name, resource attributes, sampler, SDK
//!   disabled), with the W3C `traceparent` propagator, so a caller's trace continues through
//!   every service. JSON logs carry `trace_id`/`span_id`.
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
    // Colours only for a person at a terminal; files and collectors get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let fmt_layer = match config.log_format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .event_format(WithTraceIds(
                tracing_subscriber::fmt::format()
                    .json()
                    .with_current_span(true),
            ))
            .boxed(),
        LogFormat::Pretty => tracing_subscriber::fmt::layer()
            .compact()
            .with_ansi(ansi)
            .boxed(),
    };

    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    let export = otlp_export_requested();
    // JSON logs carry the trace and span ids of what they log, so spans get ids even when
    // none is exported.
    let provider = if export || config.log_format == LogFormat::Json {
        let mut resource = opentelemetry_sdk::Resource::builder();
        // OTEL_SERVICE_NAME (and OTEL_RESOURCE_ATTRIBUTES' service.name) win over our name.
        let named = std::env::var("OTEL_SERVICE_NAME").is_ok_and(|name| !name.is_empty())
            || std::env::var("OTEL_RESOURCE_ATTRIBUTES")
                .is_ok_and(|attributes| attributes.contains("service.name="));
        if !named {
            resource = resource.with_service_name(service_name.to_string());
        }
        // The sampler comes from OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG (the SDK reads
        // them); the exporter reads OTEL_EXPORTER_OTLP_* itself.
        let mut builder = SdkTracerProvider::builder().with_resource(resource.build());
        if export {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .build()
                .context("building the OTLP span exporter")?;
            builder = builder.with_batch_exporter(exporter);
        }
        Some(builder.build())
    } else {
        None
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

/// `grpc_server_handled_total`'s labels, as go-grpc-prometheus names them (what gRPC
/// dashboards already understand).
/// Whether traces are to be exported over OTLP, as the standard variables say:
/// `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` set, unless
/// `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none`.
fn otlp_export_requested() -> bool {
    let set = |name: &str| std::env::var(name).is_ok_and(|value| !value.trim().is_empty());
    let is = |name: &str, value: &str| {
        std::env::var(name).is_ok_and(|given| given.trim().eq_ignore_ascii_case(value))
    };
    if is("OTEL_SDK_DISABLED", "true") || is("OTEL_TRACES_EXPORTER", "none") {
        return false;
    }
    if let Ok(protocol) = std::env::var("OTEL_EXPORTER_OTLP_PROTOCOL")
        && !protocol.is_empty()
        && protocol != "grpc"
    {
        eprintln!("OTEL_EXPORTER_OTLP_PROTOCOL={protocol}: this build exports OTLP over gRPC only");
    }
    set("OTEL_EXPORTER_OTLP_ENDPOINT") || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
}

/// The JSON event format with the current span's OpenTelemetry `trace_id` and `span_id`
/// added, so a log line leads to its trace.
struct WithTraceIds<F>(F);

impl<S, N, F> tracing_subscriber::fmt::FormatEvent<S, N> for WithTraceIds<F>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
    F: tracing_subscriber::fmt::FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        use opentelemetry::trace::TraceContextExt;
        use tracing_opentelemetry::OpenTelemetrySpanExt;
        let mut line = String::new();
        self.0.format_event(
            ctx,
            tracing_subscriber::fmt::format::Writer::new(&mut line),
            event,
        )?;
        let context = tracing::Span::current().context();
        let span = context.span();
        let ids = span.span_context();
        let trimmed = line.trim_end();
        match trimmed.strip_suffix('}') {
            Some(open) if ids.is_valid() => {
                writeln!(
                    writer,
                    "{open},\"trace_id\":\"{}\",\"span_id\":\"{}\"}}",
                    ids.trace_id(),
                    ids.span_id()
                )
            }
            _ => writer.write_str(&line),
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RpcLabels {
    /// `unary`, `server_stream`, ...
    pub grpc_type: &'static str,
    /// `lms.pathway.v1.PathwayService`, or `unknown`.
    pub grpc_service: String,
    /// `CreatePathway`, or `unknown`.
    pub grpc_method: String,
    /// The code as Go spells it: `OK`, `NotFound`, `Internal`, ...
    pub grpc_code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RpcMethodLabels {
    pub grpc_type: &'static str,
    pub grpc_service: String,
    pub grpc_method: String,
}

/// The gateway's HTTP metrics' labels (OpenTelemetry's HTTP semantic conventions).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub http_request_method: String,
    /// The route template (`/v1/pathways/{id}`), never the raw path.
    pub http_route: String,
    pub http_response_status_code: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ComponentLabels {
    pub component: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolLabels {
    pub component: &'static str,
    /// `idle` or `in_use`.
    pub state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutboxLabels {
    /// The service whose outbox it is.
    pub producer: &'static str,
    /// The consumer its events go to.
    pub destination: String,
}

/// The process's metrics: one registry whatever the number of components running.
pub struct Metrics {
    pub registry: Registry,
    pub rpc_started: Family<RpcMethodLabels, Counter>,
    pub rpc_handled: Family<RpcLabels, Counter>,
    pub rpc_duration_seconds: Family<RpcMethodLabels, Histogram>,
    pub http_duration_seconds: Family<HttpLabels, Histogram>,
    /// When the service token obtained by client credentials expires (Unix time; 0: none).
    pub service_token_expiry: Gauge,
    /// Failed attempts to obtain a service token from the identity provider.
    pub service_token_renewal_failures: Counter,
    pub db_pool_connections: Family<PoolLabels, Gauge>,
    pub db_pool_max_connections: Family<ComponentLabels, Gauge>,
    pub outbox_pending_events: Family<OutboxLabels, Gauge>,
    pub outbox_oldest_pending_age_seconds: Family<OutboxLabels, Gauge>,
    /// Events a destination rejected for good, kept until replayed.
    pub outbox_dead_letters: Family<OutboxLabels, Gauge>,
    /// When records-service's certification scheduler last finished a scan (Unix time).
    pub certification_scheduler_last_run: Gauge,
    /// Read at each scrape: (component, pool) of every database this process opened.
    pools: std::sync::Mutex<Vec<(&'static str, PoolState)>>,
    process: ProcessMetrics,
}

/// A pool's size as r2d2 reports it (connections, idle, max), read at scrape time; None once
/// the pool is gone (the registry must not keep a database's connections open).
pub type PoolState = Arc<dyn Fn() -> Option<(u32, u32, u32)> + Send + Sync>;

impl Metrics {
    /// Reports `state()` (connections, idle, max) as `component`'s pool at every scrape.
    pub fn register_pool(&self, component: &'static str, state: PoolState) {
        let mut pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
        pools.retain(|(name, _)| *name != component);
        pools.push((component, state));
    }

    fn refresh(&self) {
        let mut pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
        // Each pool read once; a pool that is gone leaves the list.
        let mut alive = Vec::with_capacity(pools.len());
        pools.retain(|(component, state)| match state() {
            Some(read) => {
                alive.push((*component, read));
                true
            }
            None => false,
        });
        drop(pools);
        for (component, (connections, idle, max)) in alive {
            self.db_pool_connections
                .get_or_create(&PoolLabels {
                    component,
                    state: "idle",
                })
                .set(i64::from(idle));
            self.db_pool_connections
                .get_or_create(&PoolLabels {
                    component,
                    state: "in_use",
                })
                .set(i64::from(connections.saturating_sub(idle)));
            self.db_pool_max_connections
                .get_or_create(&ComponentLabels { component })
                .set(i64::from(max));
        }
        self.process.refresh();
    }
}

/// The standard `process_*` metrics, read from `/proc` at each scrape (Linux only; elsewhere
/// they stay 0).
#[derive(Default)]
struct ProcessMetrics {
    cpu_seconds: Gauge<f64, std::sync::atomic::AtomicU64>,
    resident_memory_bytes: Gauge,
    virtual_memory_bytes: Gauge,
    open_fds: Gauge,
    max_fds: Gauge,
    start_time_seconds: Gauge,
}

impl ProcessMetrics {
    fn register(&self, registry: &mut Registry) {
        // A counter in Prometheus' terms; encoded here from the value /proc gives.
        registry.register(
            "process_cpu_seconds_total",
            "Total user and system CPU time spent in seconds",
            self.cpu_seconds.clone(),
        );
        registry.register(
            "process_resident_memory_bytes",
            "Resident memory size in bytes",
            self.resident_memory_bytes.clone(),
        );
        registry.register(
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes",
            self.virtual_memory_bytes.clone(),
        );
        registry.register(
            "process_open_fds",
            "Number of open file descriptors",
            self.open_fds.clone(),
        );
        registry.register(
            "process_max_fds",
            "Maximum number of open file descriptors",
            self.max_fds.clone(),
        );
        registry.register(
            "process_start_time_seconds",
            "Start time of the process since the Unix epoch in seconds",
            self.start_time_seconds.clone(),
        );
    }

    #[cfg(target_os = "linux")]
    fn refresh(&self) {
        let Ok(process) = procfs::process::Process::myself() else {
            return;
        };
        let ticks = procfs::ticks_per_second() as f64;
        if let Ok(stat) = process.stat() {
            self.cpu_seconds
                .set((stat.utime + stat.stime) as f64 / ticks);
            self.resident_memory_bytes
                .set((stat.rss * procfs::page_size()) as i64);
            self.virtual_memory_bytes.set(stat.vsize as i64);
            if let Ok(boot) = procfs::boot_time_secs() {
                self.start_time_seconds
                    .set(boot as i64 + (stat.starttime as f64 / ticks) as i64);
            }
        }
        if let Ok(fds) = process.fd_count() {
            self.open_fds.set(fds as i64);
        }
        if let Ok(limits) = process.limits()
            && let procfs::process::LimitValue::Value(max) = limits.max_open_files.soft_limit
        {
            self.max_fds.set(max as i64);
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn refresh(&self) {}
}

/// The process-wide metrics registry.
pub fn metrics() -> &'static Arc<Metrics> {
    static METRICS: OnceLock<Arc<Metrics>> = OnceLock::new();
    METRICS.get_or_init(|| {
        let mut registry = Registry::default();
        let build = prometheus_client::metrics::info::Info::new(vec![(
            "version".to_string(),
            env!("CARGO_PKG_VERSION").to_string(),
        )]);
        registry.register("lms_build", "The running build of the LMS suite", build);
        let rpc_started = Family::<RpcMethodLabels, Counter>::default();
        registry.register(
            "grpc_server_started",
            "gRPC calls started on the server",
            rpc_started.clone(),
        );
        let rpc_handled = Family::<RpcLabels, Counter>::default();
        registry.register(
            "grpc_server_handled",
            "gRPC calls completed on the server, by status code",
            rpc_handled.clone(),
        );
        let rpc_duration_seconds =
            Family::<RpcMethodLabels, Histogram>::new_with_constructor(latency_histogram);
        registry.register(
            "grpc_server_handling_seconds",
            "gRPC call latency until the response headers",
            rpc_duration_seconds.clone(),
        );
        let http_duration_seconds =
            Family::<HttpLabels, Histogram>::new_with_constructor(latency_histogram);
        registry.register(
            "http_server_request_duration_seconds",
            "Duration of HTTP requests served by the gateway",
            http_duration_seconds.clone(),
        );
        let service_token_expiry = Gauge::default();
        registry.register(
            "lms_service_token_expiry_timestamp_seconds",
            "When the service token this process obtained from the identity provider expires \
             (Unix time; 0 before the first)",
            service_token_expiry.clone(),
        );
        let service_token_renewal_failures = Counter::default();
        registry.register(
            "lms_service_token_renewal_failures",
            "Failed attempts to obtain a service token from the identity provider",
            service_token_renewal_failures.clone(),
        );
        let db_pool_connections = Family::<PoolLabels, Gauge>::default();
        registry.register(
            "lms_db_pool_connections",
            "Database connections of a component's pool, idle or in use",
            db_pool_connections.clone(),
        );
        let db_pool_max_connections = Family::<ComponentLabels, Gauge>::default();
        registry.register(
            "lms_db_pool_max_connections",
            "The most connections a component's pool opens",
            db_pool_max_connections.clone(),
        );
        let outbox_pending_events = Family::<OutboxLabels, Gauge>::default();
        registry.register(
            "lms_outbox_pending_events",
            "Events waiting in a producer's outbox for a destination",
            outbox_pending_events.clone(),
        );
        let outbox_oldest_pending_age_seconds = Family::<OutboxLabels, Gauge>::default();
        registry.register(
            "lms_outbox_oldest_pending_age_seconds",
            "Age of the oldest event waiting for a destination (0 when none waits)",
            outbox_oldest_pending_age_seconds.clone(),
        );
        let outbox_dead_letters = Family::<OutboxLabels, Gauge>::default();
        registry.register(
            "lms_outbox_dead_letters",
            "Events a destination rejected for good, kept by their producer until replayed",
            outbox_dead_letters.clone(),
        );
        let certification_scheduler_last_run = Gauge::default();
        registry.register(
            "lms_certification_scheduler_last_run_timestamp_seconds",
            "When the certification scheduler last finished a scan (Unix time)",
            certification_scheduler_last_run.clone(),
        );
        let process = ProcessMetrics::default();
        process.register(&mut registry);
        Arc::new(Metrics {
            registry,
            rpc_started,
            rpc_handled,
            rpc_duration_seconds,
            http_duration_seconds,
            service_token_expiry,
            service_token_renewal_failures,
            db_pool_connections,
            db_pool_max_connections,
            outbox_pending_events,
            outbox_oldest_pending_age_seconds,
            outbox_dead_letters,
            certification_scheduler_last_run,
            pools: Default::default(),
            process,
        })
    })
}

/// 0.5 ms .. ~16 s, doubling.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// A gRPC code as Go's `codes.Code.String()` spells it, the value `grpc_code` labels carry.
pub fn go_code_name(code: tonic::Code) -> &'static str {
    use tonic::Code;
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "Canceled",
        Code::Unknown => "Unknown",
        Code::InvalidArgument => "InvalidArgument",
        Code::DeadlineExceeded => "DeadlineExceeded",
        Code::NotFound => "NotFound",
        Code::AlreadyExists => "AlreadyExists",
        Code::PermissionDenied => "PermissionDenied",
        Code::ResourceExhausted => "ResourceExhausted",
        Code::FailedPrecondition => "FailedPrecondition",
        Code::Aborted => "Aborted",
        Code::OutOfRange => "OutOfRange",
        Code::Unimplemented => "Unimplemented",
        Code::Internal => "Internal",
        Code::Unavailable => "Unavailable",
        Code::DataLoss => "DataLoss",
        Code::Unauthenticated => "Unauthenticated",
    }
}

/// The metrics in Prometheus text format.
pub fn render_metrics() -> String {
    let metrics = metrics();
    metrics.refresh();
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &metrics.registry)
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
