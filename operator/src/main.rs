//! `vm-operator`: a thin command line over the vm-operator crates.

mod heap;
mod http;
mod render;
mod run;
mod telemetry;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use vmop_plugin::Registries;

#[derive(Parser)]
#[command(
    version,
    about = "Provisions KubeVirt virtual machines from VirtualMachineProfiles"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the controller against a cluster (in-cluster config, or --kubeconfig).
    Run(Box<run::RunArgs>),
    /// Print the VirtualMachineProfile CustomResourceDefinition (YAML) to install it:
    /// `vm-operator crd | kubectl apply -f -`.
    Crd,
    /// List the network plugins, storage backends and VM templates linked into this binary.
    Plugins,
    /// Print, with no cluster, the objects the controller would create for profiles and
    /// pools (in the order it applies them), or their errors with field paths (exit 1).
    Render(render::RenderArgs),
}

/// Names every bundled plugin crate, so the linker keeps their `inventory` registrations.
fn link_bundled_plugins() -> [&'static str; 6] {
    vmop_bundled::link()
}

/// jemalloc instead of glibc's malloc: see the workspace Cargo.toml. Its options are built in
/// (`JEMALLOC_SYS_WITH_MALLOC_CONF` in `.cargo/config.toml`).
#[cfg(all(feature = "jemalloc", not(feature = "dhat-heap")))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> Result<()> {
    link_bundled_plugins();
    heap::start();
    match Cli::parse().command {
        Command::Run(args) => {
            // Dropped last, after the runtime: flushes the spans not yet exported.
            let _telemetry = args.telemetry()?;
            tokio::runtime::Runtime::new()
                .context("starting the async runtime")?
                .block_on(run::run(*args))
        }
        Command::Crd => {
            print!("{}", vmop_api::crd_yaml().context("serializing the CRD")?);
            Ok(())
        }
        Command::Plugins => {
            print_plugins(&Registries::from_inventory()?);
            Ok(())
        }
        Command::Render(args) => tokio::runtime::Builder::new_current_thread()
            .build()
            .context("starting the async runtime")?
            .block_on(render::render(args)),
    }
}

fn print_plugins(registries: &Registries) {
    println!("{:<10} {:<16} REGISTERED BY", "KIND", "NAME");
    let networks = registries.networks.entries().map(|e| ("network", e));
    let storage = registries.storage.entries().map(|e| ("storage", e));
    let templates = registries.templates.entries().map(|e| ("template", e));
    for (kind, (name, module)) in networks.chain(storage).chain(templates) {
        println!("{kind:<10} {name:<16} {module}");
    }
}
