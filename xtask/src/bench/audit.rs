//! The API server's own count of the operator's requests: its audit log (kube-testenv
//! `--audit-log`, recording only the operator's ServiceAccount, one event per request).

use std::{
    collections::BTreeMap,
    fs::File,
    io::{BufRead, BufReader, Seek, SeekFrom},
    path::PathBuf,
};

use anyhow::{Context, Result};
use serde::Deserialize;

#[derive(Deserialize)]
struct Event {
    verb: String,
    #[serde(rename = "objectRef")]
    object: Option<ObjectRef>,
}

#[derive(Deserialize)]
struct ObjectRef {
    resource: Option<String>,
    subresource: Option<String>,
}

/// Requests by `verb resource[/subresource]`.
pub type Counts = BTreeMap<String, u64>;

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
    pub fn since_last(&mut self) -> Result<Counts> {
        let mut counts = Counts::new();
        let Ok(mut file) = File::open(&self.path) else {
            return Ok(counts);
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
            let resource = event.object.map_or_else(String::new, |o| {
                let resource = o.resource.unwrap_or_default();
                match o.subresource {
                    Some(sub) => format!("{resource}/{sub}"),
                    None => resource,
                }
            });
            *counts
                .entry(format!("{} {resource}", event.verb))
                .or_default() += 1;
        }
        Ok(counts)
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
