//! The data-plane simulators (CSI, CDI, NMState, KubeVirt) as a process of their own, so the
//! benchmark can run them release-built and apart from the operator and the load generator.
//!
//! `vmop-sims <kubeconfig>`: runs with instant timing until killed.

use vmop_testenv::{client_for, sim};

#[tokio::main]
async fn main() {
    let Some(kubeconfig) = std::env::args_os().nth(1) else {
        eprintln!("usage: vmop-sims <kubeconfig>");
        std::process::exit(2);
    };
    let client = match client_for(std::path::Path::new(&kubeconfig), None).await {
        Ok(client) => client,
        Err(error) => {
            eprintln!("vmop-sims: {error}");
            std::process::exit(1);
        }
    };
    sim::run_all(client, sim::SimConfig::instant()).await;
}
