//! Logs and traces.
//!
//! Logs go to stderr, human-readable (`LOG_FORMAT=pretty`, the default) or
//! as JSON lines (`LOG_FORMAT=json`) that carry the `trace_id` and `span_id`
//! of the span they happened in, so a log line leads to its trace.
//! `RUST_LOG` filters (default `info`).
//!
//! When `OTEL_EXPORTER_OTLP_ENDPOINT` is set, spans at info and above become
//! OpenTelemetry spans exported over OTLP/gRPC, as `OTEL_SERVICE_NAME`
//! (default: the component's name), sampled as the standard
//! `OTEL_TRACES_SAMPLER` variables say; trace context travels in W3C
//! headers. Without an endpoint no OpenTelemetry span is made at all:
//! the spans that start or join a trace then keep its ids themselves
//! (`propagation`), so JSON lines still carry the `trace_id` (the
//! caller's, or one the first component made) and calls still pass it on.
//! A process that runs several components (`shop up`, the tests) installs
//! with [`init_shared`]: each component's spans then carry its own
//! `service.name`, as they would in a process of their own.
//! `RUST_LOG` filters logs; traces take every span at info and above (and
//! the finer ones too when `RUST_LOG` asks for them). [`Telemetry::shutdown`]
//! flushes what is buffered.

use std::fmt;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::trace::TraceContextExt as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::trace::{SpanBuilder, SpanContext, Tracer};
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::{ConfigError, Env};

mod propagation;
mod red;

pub use propagation::{
    GrpcServerSpan, HeaderExtractor, SpanLayer, SpanService, client_span, continue_trace,
    start_trace, traceparent,
};
pub use red::RedMetrics;
pub(crate) use red::{GrpcMetricsLayer, answered_code, handle as metrics_handle};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable, for a terminal.
    Pretty,
    /// One JSON object per line, for a log pipeline.
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pretty" => Ok(Self::Pretty),
            "json" => Ok(Self::Json),
            other => Err(format!("expected `pretty` or `json`, got {other:?}")),
        }
    }
}

/// Keeps the tracer providers alive; flush them with [`Telemetry::shutdown`].
#[derive(Debug, Default)]
pub struct Telemetry {
    /// The providers this call installed (the process's, then one per
    /// shared component); empty when export is off or another call won.
    providers: Vec<SdkTracerProvider>,
}

impl Telemetry {
    /// Exports what is buffered and stops the exporters. Blocks until done:
    /// call it from a multi-threaded runtime (as `#[tokio::main]` makes).
    pub fn shutdown(self) {
        for provider in self.providers {
            let _ = provider.force_flush();
            let _ = provider.shutdown();
        }
    }

    /// Exports what is buffered now.
    pub fn flush(&self) {
        for provider in &self.providers {
            let _ = provider.force_flush();
        }
    }
}

/// Installs logging and tracing for `component`, the one component of this
/// process. The first call in a process wins (several services in one
/// process, or many tests); later calls return an empty [`Telemetry`].
pub fn init(env: &Env, component: &str) -> Result<Telemetry, ConfigError> {
    init_shared(env, component, &[])
}

/// Installs logging and tracing for a process that runs several
/// `components`. A span made under a component's server span (see
/// [`in_component`]) is exported with that component's `service.name`, so
/// a trace through `shop up` reads as one through separate processes;
/// anything else as `OTEL_SERVICE_NAME`, default `process`.
pub fn init_shared(
    env: &Env,
    process: &str,
    components: &[&'static str],
) -> Result<Telemetry, ConfigError> {
    let format = env.parse_or("LOG_FORMAT", LogFormat::Pretty)?;
    let filter = match env.get("RUST_LOG") {
        Some(directives) => EnvFilter::try_new(&directives).map_err(|e| ConfigError {
            var: "RUST_LOG".into(),
            message: e.to_string(),
        })?,
        None => EnvFilter::new("info"),
    };
    // Spans become OpenTelemetry spans only when they are exported: the
    // bridge costs CPU on every request (see docs/benchmarks.md).
    let providers = match env.get("OTEL_EXPORTER_OTLP_ENDPOINT") {
        None => Vec::new(),
        Some(endpoint) => {
            let own = env
                .get("OTEL_SERVICE_NAME")
                .unwrap_or_else(|| process.to_string());
            std::iter::once(own)
                .chain(components.iter().map(|c| c.to_string()))
                .map(|service| provider(&endpoint, service))
                .collect::<Result<_, _>>()?
        }
    };
    // With export on, one global level lets through every span at info and
    // above, and whatever more RUST_LOG asks for; the trace layer takes all
    // of it, so it needs no filter of its own. (A per-layer filter costs a
    // registry lookup on every enter, exit and close of every span:
    // docs/benchmarks.md.) RUST_LOG filters the logs only.
    let span_level = (!providers.is_empty())
        .then(|| LevelFilter::INFO.max(filter.max_level_hint().unwrap_or(LevelFilter::TRACE)));
    let traces = (!providers.is_empty()).then(|| {
        let scopes = std::iter::once(process).chain(components.iter().copied());
        let tracers = providers
            .iter()
            .zip(scopes)
            .map(|(p, scope)| p.tracer(scope.to_string()));
        trace_layer(ComponentTracer(tracers.collect()))
    });

    // Colours only on a terminal: escape codes are noise in a file or a
    // container's log, and colouring every span's fields costs CPU on
    // every request (docs/benchmarks.md).
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let logs = match format {
        LogFormat::Pretty => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(ansi)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .fmt_fields(NoSpanFields)
            .event_format(JsonWithTraceIds)
            .boxed(),
    };
    // The global level goes outermost, where it becomes the process's
    // maximum level: tracing's macros then skip every finer callsite (h2,
    // hyper and sqlx hit hundreds per request) with one comparison. Below
    // the per-layer log filter, tracing-subscriber reports no maximum and
    // marks those callsites "sometimes", asking every filter on every hit:
    // that cost 5 µs of CPU per browse request (docs/benchmarks.md).
    let installed = tracing_subscriber::registry()
        .with(logs.with_filter(filter))
        .with(traces)
        .with(span_level)
        .try_init()
        .is_ok();
    if !installed {
        return Ok(Telemetry::default());
    }
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    EXPORTS.store(!providers.is_empty(), Ordering::Relaxed);
    if let Some(provider) = providers.first() {
        opentelemetry::global::set_tracer_provider(provider.clone());
        if !components.is_empty() {
            let _ = SHARED.set(components.to_vec());
        }
    }
    Ok(Telemetry { providers })
}

/// A tracer provider exporting to `endpoint` as `service`.
fn provider(endpoint: &str, service: String) -> Result<SdkTracerProvider, ConfigError> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .build()
        .map_err(|e| ConfigError {
            var: "OTEL_EXPORTER_OTLP_ENDPOINT".into(),
            message: e.to_string(),
        })?;
    // A dedicated thread batches and exports: ending a span is one push
    // onto a bounded queue. The standard `OTEL_BSP_*` variables size the
    // queue and the batches.
    let processor = opentelemetry_sdk::trace::BatchSpanProcessor::builder(exporter).build();
    Ok(SdkTracerProvider::builder()
        .with_resource(Resource::builder().with_service_name(service).build())
        .with_span_processor(processor)
        .build())
}

/// True once telemetry is installed with export on: spans then have
/// OpenTelemetry contexts.
static EXPORTS: AtomicBool = AtomicBool::new(false);

/// True when this process exports spans, so the OpenTelemetry layer keeps
/// every span's trace context; false when the spans that start or join a
/// trace keep it themselves (see `propagation`).
pub fn exports() -> bool {
    EXPORTS.load(Ordering::Relaxed)
}

/// The components sharing this process, when [`init_shared`] named some.
static SHARED: OnceLock<Vec<&'static str>> = OnceLock::new();

/// Marks a context, and every span made under it, as the work of the
/// shared component at this index of [`SHARED`].
#[derive(Debug, Clone, Copy)]
struct InComponent(usize);

/// True when this process runs several components ([`init_shared`]) and
/// exports their spans.
pub(crate) fn is_shared() -> bool {
    SHARED.get().is_some()
}

/// `parent` marked as the work of `component` when this process runs
/// several components, so the spans under it carry that component's
/// `service.name`; `parent` as it is otherwise.
pub(crate) fn in_component(
    component: &str,
    parent: opentelemetry::Context,
) -> opentelemetry::Context {
    match SHARED
        .get()
        .and_then(|names| names.iter().position(|c| *c == component))
    {
        Some(index) => parent.with_value(InComponent(index)),
        None => parent,
    }
}

/// The process's tracer, then one per shared component: each span goes to
/// the tracer of the component its context is marked with
/// ([`in_component`]), so it is exported with that component's resource.
#[derive(Debug)]
struct ComponentTracer(Vec<SdkTracer>);

impl Tracer for ComponentTracer {
    type Span = opentelemetry_sdk::trace::Span;

    fn build_with_context(
        &self,
        builder: SpanBuilder,
        parent_cx: &opentelemetry::Context,
    ) -> Self::Span {
        let index = parent_cx.get::<InComponent>().map_or(0, |c| c.0 + 1);
        self.0
            .get(index)
            .unwrap_or(&self.0[0])
            .build_with_context(builder, parent_cx)
    }
}

/// The bridge from `tracing` spans to OpenTelemetry spans.
fn trace_layer<S>(
    tracer: ComponentTracer,
) -> tracing_opentelemetry::OpenTelemetryLayer<S, ComponentTracer>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    tracing_opentelemetry::layer()
        .with_tracer(tracer)
        // Each of these adds work or attributes to every span; the span name
        // and our own fields say what a span is (docs/benchmarks.md).
        .with_location(false)
        .with_threads(false)
        .with_target(false)
        .with_level(false)
        .with_tracked_inactivity(false)
        .with_context_activation(false)
}

/// Formats no span fields: JSON lines carry the span's name and ids, and
/// its fields are in the trace. The fmt layer formats every span's fields
/// when the span is made, in case a line is logged inside it; for JSON that
/// was CPU spent on every span for nothing (docs/benchmarks.md).
#[derive(Debug)]
struct NoSpanFields;

impl<'writer> FormatFields<'writer> for NoSpanFields {
    fn format_fields<R: tracing_subscriber::field::RecordFields>(
        &self,
        _writer: Writer<'writer>,
        _fields: R,
    ) -> fmt::Result {
        Ok(())
    }
}

/// JSON log lines: time, level, target, the event's fields, the span name,
/// and the trace and span ids of the current span: its OpenTelemetry ids
/// with export on; with export off, those of the nearest span that started
/// or joined the trace (a server, client or recovery span).
#[derive(Debug)]
struct JsonWithTraceIds;

impl<S, N> FormatEvent<S, N> for JsonWithTraceIds
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut line = Map::new();
        line.insert(
            "timestamp".into(),
            Value::String(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
        );
        line.insert(
            "level".into(),
            Value::String(event.metadata().level().to_string()),
        );
        line.insert(
            "target".into(),
            Value::String(event.metadata().target().to_string()),
        );
        event.record(&mut JsonFields(&mut line));
        if let Some(span) = ctx.lookup_current() {
            line.insert("span".into(), Value::String(span.name().to_string()));
        }
        let current = tracing::Span::current();
        let span_context = if exports() {
            Some(current.context().span().span_context().clone())
        } else {
            propagation::local_context(&current)
        };
        if let Some(span_context) = span_context.filter(SpanContext::is_valid) {
            line.insert(
                "trace_id".into(),
                Value::String(span_context.trace_id().to_string()),
            );
            line.insert(
                "span_id".into(),
                Value::String(span_context.span_id().to_string()),
            );
        }
        writeln!(writer, "{}", Value::Object(line))
    }
}

/// Collects an event's fields into a JSON object.
struct JsonFields<'a>(&'a mut Map<String, Value>);

impl Visit for JsonFields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(
            field.name().to_string(),
            Value::String(format!("{value:?}")),
        );
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0
            .insert(field.name().to_string(), Value::String(value.to_string()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_string(), Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_string(), Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_string(), Value::from(value));
    }
}
