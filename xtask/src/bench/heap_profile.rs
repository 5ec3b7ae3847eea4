//! `--heap-profile`: the operator built with its `dhat-heap` feature, stopped after the idle
//! window, and dhat's record of what it held at that moment summed by the call site that
//! allocated it (the innermost frame in our crates or in kube-runtime), per profile.

use std::{collections::HashMap, path::Path};

use anyhow::{Context, Result};
use serde::Deserialize;

/// The file the operator writes (the environment variable its `heap` module reads).
pub const FILE_ENV: &str = "VMOP_HEAP_PROFILE";

/// The frames that name who holds memory, innermost first: ours, then the watch machinery.
const OWNERS: [&str; 4] = ["vmop_", "vm_operator::", "kube_runtime::", "kube_client::"];

/// dhat-rs's JSON (format 2): program points and the frame table they index.
#[derive(Deserialize)]
struct DhatFile {
    pps: Vec<ProgramPoint>,
    ftbl: Vec<String>,
}

#[derive(Deserialize)]
struct ProgramPoint {
    /// Bytes and blocks still allocated at the end (here: when the operator was stopped).
    eb: u64,
    ebk: u64,
    fs: Vec<usize>,
}

/// Bytes held by one owning call site.
#[derive(Debug, PartialEq)]
pub struct Holder {
    pub site: String,
    pub bytes: u64,
    pub blocks: u64,
}

/// Reads dhat's file and sums what was held by owning site, largest first.
pub fn holders(path: &Path) -> Result<(u64, Vec<Holder>)> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    let file: DhatFile = serde_json::from_str(&text).context("dhat's JSON")?;
    Ok(summarize(&file))
}

fn summarize(file: &DhatFile) -> (u64, Vec<Holder>) {
    let mut by_site: HashMap<String, (u64, u64)> = HashMap::new();
    let mut total = 0;
    for point in file.pps.iter().filter(|p| p.eb > 0) {
        total += point.eb;
        let frames = point.fs.iter().filter_map(|&i| file.ftbl.get(i));
        let entry = by_site.entry(owner(frames)).or_default();
        entry.0 += point.eb;
        entry.1 += point.ebk;
    }
    let mut holders: Vec<Holder> = by_site
        .into_iter()
        .map(|(site, (bytes, blocks))| Holder {
            site,
            bytes,
            blocks,
        })
        .collect();
    holders.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.site.cmp(&b.site)));
    (total, holders)
}

/// The function of the innermost owning frame (dhat writes `0xADDR: function (file:line:col)`).
fn owner<'a>(frames: impl Iterator<Item = &'a String>) -> String {
    let functions: Vec<&str> = frames.map(|f| function_of(f)).collect();
    functions
        .iter()
        .find(|f| OWNERS.iter().any(|o| f.contains(o)))
        .or_else(|| {
            functions
                .iter()
                .find(|f| !f.starts_with('[') && !allocating(f))
        })
        .map_or_else(|| "[unknown]".to_owned(), |f| (*f).to_owned())
}

/// The allocator and the standard library's growth of a buffer: never who holds it.
fn allocating(function: &str) -> bool {
    function.contains("GlobalAlloc")
        || ["alloc::", "<alloc::", "core::", "<core::", "std::"]
            .iter()
            .any(|prefix| function.starts_with(prefix))
}

fn function_of(frame: &str) -> &str {
    let without_address = frame.split_once(": ").map_or(frame, |(_, rest)| rest);
    without_address
        .rsplit_once(" (")
        .map_or(without_address, |(function, _)| function)
}

/// The summary as printed and written beside the bench's JSON: the `top` largest holders.
pub fn render(total: u64, holders: &[Holder], profiles: usize, top: usize) -> String {
    let per_profile = |bytes: u64| bytes as f64 / profiles.max(1) as f64;
    let mut out = format!(
        "heap held when stopped: {:.1} MiB, {:.0} bytes per profile ({profiles} profiles)\n",
        total as f64 / 1_048_576.0,
        per_profile(total)
    );
    for holder in holders.iter().take(top) {
        out.push_str(&format!(
            "{:>9.1} KiB {:>7.0} B/profile {:>8} blocks  {}\n",
            holder.bytes as f64 / 1024.0,
            per_profile(holder.bytes),
            holder.blocks,
            holder.site
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(points: &[(u64, &[usize])], frames: &[&str]) -> DhatFile {
        DhatFile {
            pps: points
                .iter()
                .map(|(eb, fs)| ProgramPoint {
                    eb: *eb,
                    ebk: 1,
                    fs: fs.to_vec(),
                })
                .collect(),
            ftbl: frames.iter().map(|f| (*f).to_owned()).collect(),
        }
    }

    #[test]
    fn memory_is_charged_to_the_innermost_owning_frame() {
        let frames = [
            "[root]",
            "0x1: alloc::raw_vec::finish_grow (raw_vec.rs:1:1)",
            "0x2: hashbrown::raw::RawTable<T>::reserve (mod.rs:9:9)",
            "0x3: vmop_controller::cache::store::Store::apply (store.rs:5:5)",
            "0x4: kube_runtime::reflector::store::Writer<K>::apply_watcher_event (store.rs:2:2)",
            "0x5: serde_json::de::from_slice (de.rs:1:1)",
        ];
        let summary = summarize(&file(
            &[
                (100, &[1, 2, 3]),
                (50, &[1, 3]),
                (70, &[5, 4]),
                (0, &[1, 4]),
            ],
            &frames,
        ));
        assert_eq!(summary.0, 220);
        let sites: Vec<(&str, u64)> = summary
            .1
            .iter()
            .map(|h| (h.site.as_str(), h.bytes))
            .collect();
        assert_eq!(
            sites,
            [
                ("vmop_controller::cache::store::Store::apply", 150),
                (
                    "kube_runtime::reflector::store::Writer<K>::apply_watcher_event",
                    70
                ),
            ]
        );
    }

    #[test]
    fn a_stack_without_an_owning_frame_is_charged_to_its_innermost_function_past_the_allocator() {
        let frames = [
            "[root]",
            "0x1: <dhat::Alloc as core::alloc::global::GlobalAlloc>::alloc (???:0:0)",
            "0x2: alloc::raw_vec::RawVecInner<A>::finish_grow (???:0:0)",
            "0x3: hyper::proto::h1::io::Buffered<T,B>::new (io.rs:1:1)",
        ];
        let summary = summarize(&file(&[(8, &[1, 2, 3, 0])], &frames));
        assert_eq!(
            summary.1[0].site,
            "hyper::proto::h1::io::Buffered<T,B>::new"
        );
        let text = render(summary.0, &summary.1, 2, 10);
        assert!(text.contains("4 B/profile"), "{text}");
    }
}
