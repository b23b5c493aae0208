//! OpenTelemetry traces (`--otel-endpoint`): one server span per API call of every dialect,
//! exported over OTLP/gRPC by a batch processor. The request path only hands a finished span to
//! a bounded queue (full: the span is dropped); a thread of the SDK exports batches, so a slow or
//! absent collector never delays or fails a call. Spans carry ids, names and codes, as the audit
//! trail does: never a parameter, an answer or a secret.

use std::time::{Duration, SystemTime};

use axum::http::HeaderMap;
use opentelemetry::propagation::{Extractor, TextMapPropagator as _};
use opentelemetry::trace::{SpanKind, Status, Tracer as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};

use kms_core::audit_fields::AuditFields;

/// `service.name` when `OTEL_SERVICE_NAME` does not name one.
const SERVICE_NAME: &str = "kmsd";

/// How long a stopping server waits for the last spans to be exported.
const FLUSH_AT_STOP: Duration = Duration::from_secs(5);

/// The node's tracer and the provider that exports what it makes.
pub struct Traces {
    provider: SdkTracerProvider,
    tracer: SdkTracer,
}

impl Traces {
    /// Exports to an OTLP/gRPC collector at `endpoint`. Must run inside the Tokio runtime, which
    /// drives the gRPC channel; the channel connects lazily, so a collector that is down at
    /// start delays nothing. The batch's size, delay and queue follow the SDK's `OTEL_BSP_*`
    /// variables (by default: 2,048 spans queued at most, sent every 5 seconds, 512 a batch).
    pub fn otlp(endpoint: &str) -> anyhow::Result<Self> {
        use opentelemetry_otlp::WithExportConfig as _;
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint)
            .build()
            .map_err(|e| anyhow::anyhow!("--otel-endpoint {endpoint}: {e}"))?;
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource())
            .build();
        Ok(Self::with_provider(provider))
    }

    fn with_provider(provider: SdkTracerProvider) -> Self {
        use opentelemetry::trace::TracerProvider as _;
        let tracer = provider.tracer("kmsd");
        Self { provider, tracer }
    }

    /// What a call's span starts from: the caller's trace (W3C `traceparent` and
    /// `tracestate`), if it sent one, and the time.
    pub fn start(&self, headers: &HeaderMap) -> Box<Pending> {
        Box::new(Pending {
            tracer: self.tracer.clone(),
            parent: TraceContextPropagator::new().extract(&Headers(headers)),
            start: SystemTime::now(),
        })
    }

    /// Exports what is queued, within a bound; on the blocking pool, since the SDK waits for
    /// its export thread, whose gRPC channel the runtime's workers drive.
    pub async fn shutdown(&self) {
        let provider = self.provider.clone();
        let stopped =
            tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(FLUSH_AT_STOP))
                .await;
        if let Ok(Err(e)) = stopped {
            tracing::warn!(error = %e, "the last spans may not have been exported");
        }
    }
}

/// `service.name` from `OTEL_SERVICE_NAME`, else `kmsd`; other resource attributes from
/// `OTEL_RESOURCE_ATTRIBUTES`, as the SDK reads it.
fn resource() -> opentelemetry_sdk::Resource {
    let name = std::env::var("OTEL_SERVICE_NAME")
        .ok()
        .filter(|name| !name.trim().is_empty())
        .unwrap_or_else(|| SERVICE_NAME.to_owned());
    opentelemetry_sdk::Resource::builder()
        .with_service_name(name)
        .build()
}

/// The request's headers as the propagator reads them.
struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// A call's span until its answer is known.
pub struct Pending {
    tracer: SdkTracer,
    parent: Context,
    start: SystemTime,
}

/// What a call's span says of it once answered.
pub struct Answered<'a> {
    pub request_id: &'a str,
    pub dialect: Option<&'static str>,
    pub action: Option<&'a str>,
    /// The vendor's error code, or `ok`.
    pub code: &'a str,
    pub fields: Option<&'a AuditFields>,
    pub method: &'a str,
    pub path: &'a str,
    pub status: u16,
}

impl Pending {
    /// Ends the span and hands it to the export queue.
    pub fn end(self, answered: &Answered<'_>) {
        use opentelemetry::trace::Span as _;
        let builder = self
            .tracer
            .span_builder(span_name(answered))
            .with_kind(SpanKind::Server)
            .with_start_time(self.start)
            .with_attributes(attributes(answered));
        let mut span = self.tracer.build_with_context(builder, &self.parent);
        if server_fault(answered) {
            span.set_status(Status::error(answered.code.to_owned()));
        }
        span.end();
    }
}

/// `<dialect> <action>`, e.g. `tencent Encrypt`: a small set of names, as span names should be.
/// A call refused before its action was known is `<dialect> unknown`; a path no dialect serves
/// is named by its method alone, as HTTP servers name routes they do not have.
fn span_name(answered: &Answered<'_>) -> String {
    match answered.dialect {
        Some(dialect) => format!("{dialect} {}", answered.action.unwrap_or("unknown")),
        None => answered.method.to_owned(),
    }
}

/// The span's attributes: what the audit record names, never a secret. Request parameters and
/// answers (plaintexts, ciphertexts, signatures, key material, secret keys) are not among them;
/// the path is, without the query (where a legacy Tencent call carries its parameters).
fn attributes(answered: &Answered<'_>) -> Vec<KeyValue> {
    let mut attributes = vec![
        KeyValue::new("kmsd.request_id", answered.request_id.to_owned()),
        KeyValue::new("kmsd.code", answered.code.to_owned()),
        KeyValue::new("http.request.method", answered.method.to_owned()),
        KeyValue::new("url.path", answered.path.to_owned()),
        KeyValue::new("http.response.status_code", i64::from(answered.status)),
    ];
    if let Some(dialect) = answered.dialect {
        attributes.push(KeyValue::new("kmsd.dialect", dialect));
        let action = answered.action.unwrap_or("unknown").to_owned();
        attributes.push(KeyValue::new("kmsd.action", action));
    }
    if let Some(fields) = answered.fields {
        if let Some(account) = fields.account {
            attributes.push(KeyValue::new("kmsd.account", account.to_string()));
        }
        if let Some(credential) = &fields.credential_id {
            attributes.push(KeyValue::new("kmsd.credential_id", credential.clone()));
        }
        if let Some(region) = &fields.region {
            attributes.push(KeyValue::new("kmsd.region", region.clone()));
        }
        if !fields.resources.is_empty() {
            let ids = fields.resources.iter().cloned().map(Into::into).collect();
            attributes.push(KeyValue::new(
                "kmsd.resources",
                opentelemetry::Value::Array(opentelemetry::Array::String(ids)),
            ));
        }
    }
    attributes
}

/// Whether the call failed on the server's side (the span's status is then an error): a 5xx,
/// or Tencent's internal and unavailable codes (Tencent answers every error with HTTP 200). A
/// client's mistake or a refusal is not the server's error.
fn server_fault(answered: &Answered<'_>) -> bool {
    answered.status >= 500
        || matches!(
            answered.code,
            "InternalError"
                | "ServiceUnavailable"
                | "UnsupportedOperation.ServiceTemporaryUnavailable"
        )
        || answered.code.starts_with("InternalError.")
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{SpanId, TraceContextExt as _, TraceId};
    use opentelemetry_sdk::trace::{InMemorySpanExporter, SpanData};

    fn parent_of(pending: &Pending) -> opentelemetry::trace::SpanContext {
        pending.parent.span().span_context().clone()
    }

    fn traces() -> (Traces, InMemorySpanExporter) {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        (Traces::with_provider(provider), exporter)
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    fn attribute<'a>(span: &'a SpanData, key: &str) -> Option<&'a opentelemetry::Value> {
        span.attributes
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| &kv.value)
    }

    fn encrypt_refused(fields: &AuditFields) -> Answered<'_> {
        Answered {
            request_id: "3f1c2c1e-6f5b-4b7e-9a51-0d7e5e2b8d11",
            dialect: Some("tencent"),
            action: Some("Decrypt"),
            code: "ResourceUnavailable.CmkDisabled",
            fields: Some(fields),
            method: "POST",
            path: "/",
            status: 200,
        }
    }

    #[test]
    fn a_call_is_one_server_span_named_by_dialect_and_action() {
        let (traces, exporter) = traces();
        let fields = AuditFields {
            account: Some(100_000_000_001),
            credential_id: Some("AKIDexample".into()),
            region: Some("ap-guangzhou".into()),
            resources: vec!["0f6f4b54-1d7c-4c3e-9f0e-3e6a9d0b2a11".into()],
            ..Default::default()
        };
        traces
            .start(&HeaderMap::new())
            .end(&encrypt_refused(&fields));
        let spans = exporter.get_finished_spans().unwrap();
        assert_eq!(spans.len(), 1);
        let span = &spans[0];
        assert_eq!(span.name, "tencent Decrypt");
        assert_eq!(span.span_kind, SpanKind::Server);
        assert_eq!(span.parent_span_id, SpanId::INVALID);
        assert_eq!(
            span.status,
            Status::Unset,
            "a refusal is not a server fault"
        );
        let text = |key| attribute(span, key).map(|v| v.as_str().into_owned());
        assert_eq!(text("kmsd.dialect").as_deref(), Some("tencent"));
        assert_eq!(text("kmsd.action").as_deref(), Some("Decrypt"));
        assert_eq!(
            text("kmsd.code").as_deref(),
            Some("ResourceUnavailable.CmkDisabled")
        );
        assert_eq!(text("kmsd.account").as_deref(), Some("100000000001"));
        assert_eq!(
            text("kmsd.request_id").as_deref(),
            Some("3f1c2c1e-6f5b-4b7e-9a51-0d7e5e2b8d11")
        );
        assert_eq!(text("kmsd.credential_id").as_deref(), Some("AKIDexample"));
        assert_eq!(text("kmsd.region").as_deref(), Some("ap-guangzhou"));
        assert_eq!(
            attribute(span, "http.response.status_code"),
            Some(&opentelemetry::Value::I64(200))
        );
        assert_eq!(
            text("kmsd.resources").as_deref(),
            Some("[\"0f6f4b54-1d7c-4c3e-9f0e-3e6a9d0b2a11\"]")
        );
        assert!(span.start_time <= span.end_time);
    }

    #[test]
    fn a_callers_traceparent_is_the_parent() {
        let (traces, exporter) = traces();
        let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let pending = traces.start(&headers(&[("traceparent", header)]));
        let parent = parent_of(&pending);
        assert!(parent.is_remote());
        pending.end(&encrypt_refused(&AuditFields::default()));
        let span = &exporter.get_finished_spans().unwrap()[0];
        assert_eq!(
            span.span_context.trace_id(),
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap()
        );
        assert_eq!(
            span.parent_span_id,
            SpanId::from_hex("00f067aa0ba902b7").unwrap()
        );
        assert!(span.span_context.is_sampled());
    }

    #[test]
    fn a_malformed_traceparent_starts_a_new_trace() {
        let (traces, exporter) = traces();
        for header in [
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "zz-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            let pending = traces.start(&headers(&[("traceparent", header)]));
            assert!(!parent_of(&pending).is_valid(), "{header}");
            pending.end(&encrypt_refused(&AuditFields::default()));
        }
        for span in exporter.get_finished_spans().unwrap() {
            assert_eq!(span.parent_span_id, SpanId::INVALID);
            assert_ne!(
                span.span_context.trace_id(),
                TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap()
            );
        }
    }

    #[test]
    fn unclaimed_calls_and_server_faults() {
        let (traces, exporter) = traces();
        let unclaimed = Answered {
            request_id: "r",
            dialect: None,
            action: None,
            code: "APIG.0101",
            fields: None,
            method: "GET",
            path: "/nowhere",
            status: 404,
        };
        traces.start(&HeaderMap::new()).end(&unclaimed);
        let sealed = Answered {
            dialect: Some("huawei"),
            code: "KMS.0101",
            status: 503,
            ..unclaimed
        };
        traces.start(&HeaderMap::new()).end(&sealed);
        let internal = Answered {
            dialect: Some("tencent"),
            action: Some("Encrypt"),
            code: "InternalError",
            status: 200,
            ..unclaimed
        };
        traces.start(&HeaderMap::new()).end(&internal);
        let spans = exporter.get_finished_spans().unwrap();
        let names: Vec<_> = spans.iter().map(|s| s.name.as_ref()).collect();
        assert_eq!(names, ["GET", "huawei unknown", "tencent Encrypt"]);
        assert_eq!(spans[0].status, Status::Unset);
        assert!(attribute(&spans[0], "kmsd.dialect").is_none());
        assert_eq!(spans[1].status, Status::error("KMS.0101"));
        assert_eq!(spans[2].status, Status::error("InternalError"));
    }

    #[test]
    fn the_service_name_defaults_to_kmsd() {
        // The variable is not set in the test environment unless a developer set it.
        if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
            let resource = resource();
            assert_eq!(
                resource.get(&opentelemetry::Key::new("service.name")),
                Some(opentelemetry::Value::from("kmsd"))
            );
        }
    }
}
