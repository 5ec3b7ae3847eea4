//! Tracing as the seed asks: the operator binary, given an OTLP endpoint, exports one span
//! per reconcile carrying the profile's name, with child spans for plan, networks, storage,
//! VM and status; with `--log-format json` every log line is a JSON object.

mod common;

use std::{
    collections::HashMap,
    convert::Infallible,
    sync::{Arc, Mutex},
};

use common::{OperatorProcess, WAIT, service_account_kubeconfig};
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, body::Bytes, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::{
    collector::trace::v1::ExportTraceServiceRequest, common::v1::any_value, trace::v1::Span,
};
use prost::Message;
use vmop_testenv::{TestEnv, wait};

/// A span as received, with the attributes this test reads.
#[derive(Clone, Debug)]
struct Received {
    name: String,
    service: String,
    trace_id: Vec<u8>,
    span_id: Vec<u8>,
    parent_span_id: Vec<u8>,
    attributes: HashMap<String, String>,
    duration_nanos: u64,
}

fn string_value(value: Option<&opentelemetry_proto::tonic::common::v1::AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        other => format!("{other:?}"),
    }
}

fn received(request: ExportTraceServiceRequest) -> Vec<Received> {
    let mut out = Vec::new();
    for resource_spans in request.resource_spans {
        let service = resource_spans
            .resource
            .iter()
            .flat_map(|r| &r.attributes)
            .find(|a| a.key == "service.name")
            .map(|a| string_value(a.value.as_ref()))
            .unwrap_or_default();
        for scope in resource_spans.scope_spans {
            for Span {
                name,
                trace_id,
                span_id,
                parent_span_id,
                attributes,
                start_time_unix_nano,
                end_time_unix_nano,
                ..
            } in scope.spans
            {
                out.push(Received {
                    name,
                    service: service.clone(),
                    trace_id,
                    span_id,
                    parent_span_id,
                    attributes: attributes
                        .into_iter()
                        .map(|a| (a.key, string_value(a.value.as_ref())))
                        .collect(),
                    duration_nanos: end_time_unix_nano.saturating_sub(start_time_unix_nano),
                });
            }
        }
    }
    out
}

/// An OTLP/HTTP receiver on a free local port: decodes every `POST /v1/traces` and keeps
/// its spans; the path of each request is kept too.
async fn otlp_receiver() -> (u16, Arc<Mutex<Vec<Received>>>, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("address").port();
    let spans = Arc::new(Mutex::new(Vec::new()));
    let paths = Arc::new(Mutex::new(Vec::new()));
    let (kept, seen) = (spans.clone(), paths.clone());
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (kept, seen) = (kept.clone(), seen.clone());
            tokio::spawn(async move {
                let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                    let (kept, seen) = (kept.clone(), seen.clone());
                    async move {
                        seen.lock()
                            .expect("paths")
                            .push(request.uri().path().to_owned());
                        let body = request
                            .into_body()
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        let status = match ExportTraceServiceRequest::decode(body) {
                            Ok(export) => {
                                kept.lock().expect("spans").extend(received(export));
                                200
                            }
                            Err(_) => 400,
                        };
                        Ok::<_, Infallible>(
                            Response::builder()
                                .status(status)
                                .header("content-type", "application/x-protobuf")
                                .body(Full::new(Bytes::new()))
                                .expect("response"),
                        )
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (port, spans, paths)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reconcile_is_one_span_with_its_stages_as_children_exported_over_otlp() {
    let ns = TestEnv::shared().namespace("otlp").await;
    common::publish_seed_policy("otlp-test-policy", &ns.name).await;
    let (port, spans, paths) = otlp_receiver().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let kubeconfig = service_account_kubeconfig(dir.path()).await;
    let endpoint = format!("http://127.0.0.1:{port}/");
    let operator = OperatorProcess::start_with(
        &ns.name,
        "otlp-test-policy",
        dir,
        kubeconfig,
        &["--otlp-endpoint", &endpoint, "--log-format", "json"],
        "vm-operator-otlp",
    )
    .await;

    common::run_seed_profile(&ns, "traced-vm", || operator.log()).await;

    // A reconcile that got through every stage: its children are all there.
    let stages = ["plan", "networks", "storage", "vm", "status"];
    let (root, children) = wait::until("a reconcile's spans to arrive", WAIT, || async {
        let spans = spans.lock().expect("spans").clone();
        spans
            .iter()
            .filter(|s| {
                s.name == "reconcile"
                    && s.attributes.get("profile").map(String::as_str) == Some("traced-vm")
            })
            .find_map(|root| {
                let children: Vec<Received> = spans
                    .iter()
                    .filter(|s| s.parent_span_id == root.span_id && s.trace_id == root.trace_id)
                    .cloned()
                    .collect();
                stages
                    .iter()
                    .all(|stage| children.iter().any(|c| c.name == *stage))
                    .then(|| (root.clone(), children))
            })
    })
    .await
    .unwrap_or_else(|e| {
        let names: Vec<String> = spans
            .lock()
            .expect("spans")
            .iter()
            .map(|s| format!("{} {:?}", s.name, s.attributes))
            .collect();
        panic!("{e}; received: {names:#?}\n{}", operator.log())
    });
    assert_eq!(root.service, "vm-operator");
    assert_eq!(
        root.attributes.get("namespace").map(String::as_str),
        Some(ns.name.as_str())
    );
    assert!(root.duration_nanos > 0, "the reconcile span has a duration");
    for stage in stages {
        let child = children
            .iter()
            .find(|c| c.name == stage)
            .expect("stage span");
        assert!(
            child.duration_nanos <= root.duration_nanos,
            "{stage} lasts no longer than its reconcile"
        );
    }
    assert!(
        paths
            .lock()
            .expect("paths")
            .iter()
            .all(|p| p == "/v1/traces"),
        "spans go to <endpoint>/v1/traces"
    );

    // JSON logs: every line is an object; those inside a reconcile name the profile.
    let log = operator.log();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    assert!(
        lines.iter().any(|l| {
            l["fields"]["message"] == "phase changed"
                && l["spans"]
                    .as_array()
                    .is_some_and(|spans| spans.iter().any(|s| s["profile"] == "traced-vm"))
        }),
        "a log line carries the reconcile's profile:\n{log}"
    );
}
