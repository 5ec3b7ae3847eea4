//! `vm-operator render`: what the controller would create for profiles and pools, printed
//! with no cluster, for review and for GitOps pipelines (non-zero exit on a bad manifest).

use std::{
    io::{Read, Write},
    path::PathBuf,
};

use anyhow::{Context, Result, bail};
use k8s_openapi::api::{core::v1::ConfigMap, storage::v1::StorageClass};
use serde::Deserialize;
use serde_json::Value;
use vmop_api::{VirtualMachineProfile, pool::VirtualMachineProfilePool};
use vmop_controller::{
    AdminPolicy, RenderContext, RenderError, class_infos, render_pool, render_profile,
};
use vmop_plugin::{Registries, StorageClassInfo};

/// Output formats.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Format {
    /// YAML documents separated by `---`.
    Yaml,
    /// One `v1` `List`.
    Json,
}

/// Arguments of `vm-operator render`.
#[derive(clap::Args, Debug)]
pub struct RenderArgs {
    /// Manifests to render (YAML, several documents each): VirtualMachineProfiles,
    /// VirtualMachineProfilePools, and the StorageClasses their disks name. `-` or none: stdin.
    #[arg(short = 'f', long = "filename")]
    files: Vec<PathBuf>,
    /// The administrator's policy: its `policy.yaml` document, or the ConfigMap holding it.
    /// Without it nothing beyond what every namespace may do is allowed, as on a fresh install.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Namespace of manifests that name none.
    #[arg(short = 'n', long, default_value = "default")]
    namespace: String,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "yaml")]
    output: Format,
    /// The one namespace the operator watches, if it runs with `run --namespace` (its node
    /// policies are named for it).
    #[arg(long)]
    watch_namespace: Option<String>,
}

/// One input document: what render does with it.
enum Input {
    Profile(Box<VirtualMachineProfile>),
    Pool(Box<VirtualMachineProfilePool>),
    Class(Box<StorageClass>),
}

fn read(path: &PathBuf) -> Result<String> {
    if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading stdin")?;
        return Ok(text);
    }
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

fn parse(text: &str, source: &str, namespace: &str) -> Result<Vec<Input>> {
    let mut inputs = Vec::new();
    for (index, document) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let value = Value::deserialize(document)
            .with_context(|| format!("{source}: document {index} is not YAML"))?;
        if value.is_null() {
            continue;
        }
        let kind = value["kind"].as_str().unwrap_or_default().to_owned();
        let at = || format!("{source}: document {index} ({kind})");
        let input = match kind.as_str() {
            "VirtualMachineProfile" => {
                let mut profile: VirtualMachineProfile =
                    serde_json::from_value(value).with_context(at)?;
                profile
                    .metadata
                    .namespace
                    .get_or_insert_with(|| namespace.into());
                Input::Profile(Box::new(profile))
            }
            "VirtualMachineProfilePool" => {
                let mut pool: VirtualMachineProfilePool =
                    serde_json::from_value(value).with_context(at)?;
                pool.metadata
                    .namespace
                    .get_or_insert_with(|| namespace.into());
                Input::Pool(Box::new(pool))
            }
            "StorageClass" => Input::Class(serde_json::from_value(value).with_context(at)?),
            other => bail!("{}: kind {other:?} is not rendered", at()),
        };
        inputs.push(input);
    }
    Ok(inputs)
}

fn policy(path: Option<&PathBuf>) -> Result<AdminPolicy> {
    let Some(path) = path else {
        return Ok(AdminPolicy::default());
    };
    let text = read(path)?;
    // A ConfigMap as deployed, or the policy document itself.
    let document = match serde_yaml::from_str::<ConfigMap>(&text) {
        Ok(config_map) if config_map.data.is_some() => config_map
            .data
            .and_then(|d| d.get("policy.yaml").cloned())
            .with_context(|| format!("{}: the ConfigMap has no policy.yaml", path.display()))?,
        _ => text,
    };
    AdminPolicy::parse(&document)
        .map_err(|e| anyhow::anyhow!("{}: invalid policy: {e}", path.display()))
}

/// A class render was not given: its name with no provisioner, bound at once (what most CSI
/// classes do), so that a pipeline without the cluster's classes still renders.
fn assumed(name: &str) -> StorageClassInfo {
    StorageClassInfo {
        name: name.into(),
        provisioner: String::new(),
        parameters: Default::default(),
        wait_for_first_consumer: false,
        allow_volume_expansion: false,
        is_default: false,
    }
}

fn print(objects: &[Value], format: Format) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match format {
        Format::Yaml => {
            for object in objects {
                writeln!(out, "---")?;
                write!(out, "{}", serde_yaml::to_string(object)?)?;
            }
        }
        Format::Json => {
            let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": objects});
            writeln!(out, "{}", serde_json::to_string_pretty(&list)?)?;
        }
    }
    Ok(())
}

/// Renders every manifest; prints the objects, and every error to stderr with the manifest it
/// belongs to. Fails when any manifest does not render.
pub async fn render(args: RenderArgs) -> Result<()> {
    let registries = Registries::from_inventory()?;
    let policy = policy(args.policy.as_ref())?;
    let files = if args.files.is_empty() {
        vec![PathBuf::from("-")]
    } else {
        args.files.clone()
    };
    let mut inputs = Vec::new();
    for file in &files {
        inputs.extend(parse(
            &read(file)?,
            &file.display().to_string(),
            &args.namespace,
        )?);
    }
    let given: Vec<StorageClass> = inputs
        .iter()
        .filter_map(|i| match i {
            Input::Class(class) => Some((**class).clone()),
            _ => None,
        })
        .collect();
    let infos = class_infos(&given);
    let assumed_names = std::cell::RefCell::new(std::collections::BTreeSet::new());
    let classes = |name: Option<&str>| match name {
        Some(name) => Some(
            infos
                .iter()
                .find(|c| c.name == name)
                .cloned()
                .unwrap_or_else(|| {
                    assumed_names.borrow_mut().insert(name.to_owned());
                    assumed(name)
                }),
        ),
        None => infos.iter().find(|c| c.is_default).cloned(),
    };
    let context = RenderContext {
        registries: &registries,
        classes: &classes,
        policy: &policy,
        watch_namespace: args.watch_namespace.as_deref(),
    };
    let mut objects = Vec::new();
    let mut failed = 0;
    for input in &inputs {
        let (what, rendered) = match input {
            Input::Profile(profile) => (
                format!(
                    "VirtualMachineProfile {}",
                    profile.metadata.name.as_deref().unwrap_or("")
                ),
                render_profile(profile, &context).await,
            ),
            Input::Pool(pool) => (
                format!(
                    "VirtualMachineProfilePool {}",
                    pool.metadata.name.as_deref().unwrap_or("")
                ),
                render_pool(pool, &context).await,
            ),
            Input::Class(_) => continue,
        };
        match rendered {
            Ok(rendered) => objects.extend(rendered),
            Err(error) => {
                failed += 1;
                report(&what, &error);
            }
        }
    }
    for name in assumed_names.borrow().iter() {
        eprintln!(
            "note: StorageClass {name} is not in the input: rendered as a class bound at once with no known provisioner; pass its manifest (-f) for what the cluster's class makes"
        );
    }
    print(&objects, args.output)?;
    if failed > 0 {
        bail!("{failed} of the manifests did not render");
    }
    Ok(())
}

fn report(what: &str, error: &RenderError) {
    eprintln!("{what}: {error}");
}
