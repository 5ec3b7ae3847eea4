//! The heap profile of the `dhat-heap` feature: started first thing in `main`, written when
//! the operator is told to stop, before the controller lets go of its caches, so the file's
//! "at t-end" figures are what a running operator holds, by call stack.

#[cfg(feature = "dhat-heap")]
#[global_allocator]
static ALLOCATOR: dhat::Alloc = dhat::Alloc;

#[cfg(feature = "dhat-heap")]
static PROFILER: std::sync::Mutex<Option<dhat::Profiler>> = std::sync::Mutex::new(None);

/// Starts recording (with the `dhat-heap` feature; nothing otherwise).
pub fn start() {
    #[cfg(feature = "dhat-heap")]
    if let Ok(mut profiler) = PROFILER.lock() {
        let file = std::env::var_os("VMOP_HEAP_PROFILE").unwrap_or_else(|| "dhat-heap.json".into());
        *profiler = Some(dhat::Profiler::builder().file_name(file).build());
    }
}

/// Writes the profile (the file `VMOP_HEAP_PROFILE` names, `dhat-heap.json` by default) and
/// stops recording; later calls do nothing.
pub fn finish() {
    #[cfg(feature = "dhat-heap")]
    if let Ok(mut profiler) = PROFILER.lock() {
        drop(profiler.take());
    }
}
