//! The API server's own count of requests: its audit log (kube-testenv `--audit-log`, one
//! event per request at Metadata level), the operator's by verb and resource, everybody
//! else's by user.

use std::{
    collections::BTreeMap,
    fs::File,
    io::{BufRead, BufReader, Seek, SeekFrom},
    path::PathBuf,
};

use anyhow::{Context, Result};
use serde::Deserialize;
use vmop_api::k8s_openapi::jiff::Timestamp;

#[derive(Deserialize)]
struct Event {
    verb: String,
    #[serde(rename = "objectRef")]
    object: Option<ObjectRef>,
    user: User,
    #[serde(rename = "userAgent", default)]
    user_agent: String,
    #[serde(rename = "requestReceivedTimestamp", default)]
    received: String,
}

/// The user agent's last part naming kube-controller-manager's volume binder.
const VOLUME_BINDER: &str = "/persistent-volume-binder";

#[derive(Deserialize)]
struct User {
    username: String,
}

#[derive(Deserialize)]
struct ObjectRef {
    resource: Option<String>,
    subresource: Option<String>,
}

/// Requests by `verb resource[/subresource]`.
pub type Counts = BTreeMap<String, u64>;

/// One window of the log: the operator's requests, and everybody else's (simulators, the
/// load generator, the garbage collector) by user.
#[derive(Debug, Default)]
pub struct Window {
    pub operator: Counts,
    pub others: BTreeMap<String, u64>,
    /// When kube-controller-manager's volume binder last completed a claim's binding (its
    /// status update), as the API server logged it.
    pub last_claim_bound: Option<Timestamp>,
}

/// Reads the log in windows: each call counts what was logged since the last.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    offset: u64,
}

impl AuditLog {
    pub fn new(path: PathBuf) -> Self {
        AuditLog { path, offset: 0 }
    }

    /// Requests logged since the previous call.
    pub fn since_last(&mut self, operator: &str) -> Result<Window> {
        let mut window = Window::default();
        let Ok(mut file) = File::open(&self.path) else {
            return Ok(window);
        };
        file.seek(SeekFrom::Start(self.offset))?;
        let mut reader = BufReader::new(file);
        let mut line = String::new();
        loop {
            line.clear();
            let read = reader.read_line(&mut line)?;
            // A line still being written waits for the next window.
            if read == 0 || !line.ends_with('\n') {
                break;
            }
            self.offset += read as u64;
            let event: Event = serde_json::from_str(&line).context("an audit event")?;
            let binds = event.verb == "update"
                && event.user_agent.ends_with(VOLUME_BINDER)
                && event.object.as_ref().is_some_and(|o| {
                    o.resource.as_deref() == Some("persistentvolumeclaims")
                        && o.subresource.as_deref() == Some("status")
                });
            if binds && let Ok(at) = event.received.parse::<Timestamp>() {
                window.last_claim_bound = window.last_claim_bound.max(Some(at));
            }
            if event.user.username != operator {
                *window.others.entry(event.user.username).or_default() += 1;
                continue;
            }
            let resource = event.object.map_or_else(String::new, |o| {
                let resource = o.resource.unwrap_or_default();
                match o.subresource {
                    Some(sub) => format!("{resource}/{sub}"),
                    None => resource,
                }
            });
            *window
                .operator
                .entry(format!("{} {resource}", event.verb))
                .or_default() += 1;
        }
        Ok(window)
    }
}

/// Writes (create, update, patch, delete) and non-watch reads (get, list) in `counts`.
pub fn writes_and_reads(counts: &Counts) -> (u64, u64) {
    let verb_is =
        |key: &str, verbs: &[&str]| verbs.iter().any(|v| key.starts_with(&format!("{v} ")));
    let sum = |verbs: &[&str]| {
        counts
            .iter()
            .filter(|(k, _)| verb_is(k, verbs))
            .map(|(_, n)| n)
            .sum()
    };
    (
        sum(&["create", "update", "patch", "delete", "deletecollection"]),
        sum(&["get", "list"]),
    )
}
