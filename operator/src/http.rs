//! The probe and metrics endpoint: `/livez`, `/readyz` (200 once every watch has synced, while none is down) and
//! `/metrics` (Prometheus text), served by hyper's HTTP/1 server with bounds a hostile or
//! broken client cannot get past: headers within 5 s and 16 KiB, 10 s per connection, at
//! most 64 connections at once, GET and HEAD only, no request bodies read.

use std::{
    convert::Infallible,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use anyhow::{Context, Result};
use http_body_util::Full;
use hyper::{
    Method, Request, Response, StatusCode,
    body::{Bytes, Incoming},
    header::{ALLOW, CONTENT_TYPE},
    server::conn::http1,
    service::service_fn,
};
use hyper_util::rt::{TokioIo, TokioTimer};
use prometheus_client::{encoding::text::encode, registry::Registry};
use tokio::{net::TcpListener, sync::Semaphore, task::JoinHandle};

/// Longest a client may take to send its request headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest a connection may stay open, whatever it does.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest request head read.
const MAX_REQUEST_HEAD: usize = 16 * 1024;
/// Connections served at once; more wait in the listen backlog.
const MAX_CONNECTIONS: usize = 64;

/// Binds `address` and serves in the background.
pub async fn serve(
    address: SocketAddr,
    registry: Arc<Registry>,
    ready: Arc<AtomicBool>,
) -> Result<JoinHandle<()>> {
    let listener = TcpListener::bind(address)
        .await
        .with_context(|| format!("binding {address}"))?;
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    Ok(tokio::spawn(async move {
        loop {
            let Ok(permit) = slots.clone().acquire_owned().await else {
                return;
            };
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let (registry, ready) = (registry.clone(), ready.clone());
            tokio::spawn(async move {
                let service = service_fn(move |request| {
                    let response = respond(&request, &registry, &ready);
                    async move { Ok::<_, Infallible>(response) }
                });
                let connection = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_TIMEOUT)
                    .max_buf_size(MAX_REQUEST_HEAD)
                    .keep_alive(false)
                    .serve_connection(TokioIo::new(stream), service);
                let _ = tokio::time::timeout(CONNECTION_TIMEOUT, connection).await;
                drop(permit);
            });
        }
    }))
}

fn text(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    response
}

fn respond(
    request: &Request<Incoming>,
    registry: &Registry,
    ready: &AtomicBool,
) -> Response<Full<Bytes>> {
    const PLAIN: &str = "text/plain; charset=utf-8";
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response = text(
            StatusCode::METHOD_NOT_ALLOWED,
            PLAIN,
            "GET or HEAD only\n".into(),
        );
        response
            .headers_mut()
            .insert(ALLOW, hyper::header::HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    match request.uri().path() {
        "/livez" => text(StatusCode::OK, PLAIN, "ok\n".into()),
        "/readyz" if ready.load(Ordering::Relaxed) => text(StatusCode::OK, PLAIN, "ok\n".into()),
        "/readyz" => text(
            StatusCode::SERVICE_UNAVAILABLE,
            PLAIN,
            "watch caches not synced\n".into(),
        ),
        "/metrics" => {
            let mut body = String::new();
            match encode(&mut body, registry) {
                Ok(()) => text(
                    StatusCode::OK,
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    body,
                ),
                Err(_) => text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    PLAIN,
                    "encoding failed\n".into(),
                ),
            }
        }
        _ => text(StatusCode::NOT_FOUND, PLAIN, "not found\n".into()),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use tokio::{
        io::{AsyncReadExt, AsyncWriteExt},
        net::TcpStream,
    };

    use super::*;

    async fn server() -> SocketAddr {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address");
        drop(listener);
        serve(address, Arc::default(), Arc::new(AtomicBool::new(true)))
            .await
            .expect("serves");
        address
    }

    async fn exchange(address: SocketAddr, request: &[u8]) -> String {
        let mut stream = TcpStream::connect(address).await.expect("connect");
        stream.write_all(request).await.expect("write");
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response).await;
        String::from_utf8_lossy(&response).into_owned()
    }

    #[tokio::test]
    async fn probes_answer_and_other_methods_and_paths_are_refused() {
        let address = server().await;
        let ok = exchange(address, b"GET /readyz HTTP/1.1\r\nhost: x\r\n\r\n").await;
        assert!(ok.starts_with("HTTP/1.1 200 OK"), "{ok}");
        let post = exchange(
            address,
            b"POST /livez HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n",
        )
        .await;
        assert!(post.starts_with("HTTP/1.1 405"), "{post}");
        let missing = exchange(address, b"GET /admin HTTP/1.1\r\nhost: x\r\n\r\n").await;
        assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
    }

    #[tokio::test]
    async fn an_oversized_request_head_is_refused() {
        let address = server().await;
        let mut request = b"GET /livez HTTP/1.1\r\nhost: x\r\n".to_vec();
        for i in 0..2_000 {
            request.extend_from_slice(format!("x-filler-{i}: {}\r\n", "y".repeat(20)).as_bytes());
        }
        request.extend_from_slice(b"\r\n");
        let response = exchange(address, &request).await;
        assert!(
            response.is_empty() || response.starts_with("HTTP/1.1 431"),
            "{response}"
        );
    }

    #[tokio::test]
    async fn a_client_that_never_finishes_its_headers_is_cut_off() {
        let address = server().await;
        let mut stream = TcpStream::connect(address).await.expect("connect");
        stream
            .write_all(b"GET /livez HTTP/1.1\r\n")
            .await
            .expect("write");
        let started = Instant::now();
        let mut response = Vec::new();
        let read = tokio::time::timeout(
            CONNECTION_TIMEOUT + Duration::from_secs(5),
            stream.read_to_end(&mut response),
        )
        .await;
        assert!(read.is_ok(), "the server closed the connection");
        assert!(started.elapsed() <= CONNECTION_TIMEOUT + Duration::from_secs(1));
    }
}
