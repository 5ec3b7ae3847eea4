//! A minimal HTTP/1.1 endpoint for probes and metrics: `/livez`, `/readyz` (200 once every
//! watch has synced) and `/metrics` (Prometheus text). Enough for kubelet and Prometheus; no
//! web framework needed for three fixed responses.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use anyhow::{Context, Result};
use prometheus_client::{encoding::text::encode, registry::Registry};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};

/// Binds `address` and serves in the background.
pub async fn serve(
    address: SocketAddr,
    registry: Arc<Registry>,
    ready: Arc<AtomicBool>,
) -> Result<JoinHandle<()>> {
    let listener = TcpListener::bind(address)
        .await
        .with_context(|| format!("binding {address}"))?;
    Ok(tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (registry, ready) = (registry.clone(), ready.clone());
            tokio::spawn(async move {
                let _ = respond(stream, &registry, &ready).await;
            });
        }
    }))
}

async fn respond(
    stream: TcpStream,
    registry: &Registry,
    ready: &AtomicBool,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    reader.read_line(&mut request_line).await?;
    // Drain the headers; no request here has a body.
    let mut header = String::new();
    while reader.read_line(&mut header).await? > 2 {
        header.clear();
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("/");
    let (status, content_type, body) = match path {
        "/livez" => ("200 OK", "text/plain", "ok\n".to_owned()),
        "/readyz" if ready.load(Ordering::Relaxed) => ("200 OK", "text/plain", "ok\n".to_owned()),
        "/readyz" => (
            "503 Service Unavailable",
            "text/plain",
            "watch caches not synced\n".to_owned(),
        ),
        "/metrics" => {
            let mut text = String::new();
            match encode(&mut text, registry) {
                Ok(()) => (
                    "200 OK",
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    text,
                ),
                Err(_) => (
                    "500 Internal Server Error",
                    "text/plain",
                    "encoding failed\n".to_owned(),
                ),
            }
        }
        _ => ("404 Not Found", "text/plain", "not found\n".to_owned()),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = reader.into_inner();
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}
