//! VMLifecycleManager: builds the VirtualMachine through the template plugin (always, so the
//! MACs are known and pinned from the start), and applies it with its Secrets once networks and
//! storage are ready — or at once when the VM already exists, so updates flow.

use std::collections::BTreeMap;

use k8s_openapi::{api::core::v1::Secret, apimachinery::pkg::apis::meta::v1::OwnerReference};
use kube::{Api, ResourceExt, runtime::reflector::ObjectRef};
use vmop_api::{VirtualMachineProfile, external::kubevirt::VirtualMachine};
use vmop_plugin::TemplateInput;

use crate::{
    context::Context,
    converge::apply::{Applied, ensure},
    converge::network::NetworkOutcome,
    converge::storage::DiskOutcome,
    desired::plan::Plan,
    desired::{admission, claims::ProfileKey},
    error::Result,
    report::events::child_recreated,
};

/// What became of the VM in this pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VmOutcome {
    /// The template refused the profile: a spec problem, named by field.
    Invalid(String),
    /// Not applied yet; the reason says what it waits for.
    Waiting {
        /// The condition's reason.
        reason: String,
        /// What the VM waits for.
        message: String,
        /// MACs of its interfaces (pinned before the VM exists).
        macs: BTreeMap<String, String>,
        /// Secrets the VM will need (kept by orphan cleanup).
        secrets: Vec<String>,
    },
    /// Applied (or already in place).
    Applied {
        /// MACs of its interfaces.
        macs: BTreeMap<String, String>,
        /// Secrets the VM uses.
        secrets: Vec<String>,
    },
}

impl VmOutcome {
    /// The Secrets the VM needs; `None` when the template refused (keep whatever exists).
    pub fn secrets(&self) -> Option<&[String]> {
        match self {
            VmOutcome::Invalid(_) => None,
            VmOutcome::Waiting { secrets, .. } | VmOutcome::Applied { secrets, .. } => {
                Some(secrets)
            }
        }
    }

    /// The MACs of the VM's interfaces, when the template built it.
    pub fn macs(&self) -> Option<&BTreeMap<String, String>> {
        match self {
            VmOutcome::Invalid(_) => None,
            VmOutcome::Waiting { macs, .. } | VmOutcome::Applied { macs, .. } => Some(macs),
        }
    }
}

/// MACs pinned earlier: recorded in status, else read from the existing VM.
pub fn pinned_macs(
    profile: &VirtualMachineProfile,
    vm: Option<&VirtualMachine>,
) -> BTreeMap<String, String> {
    let mut macs: BTreeMap<String, String> = vm
        .and_then(|vm| vm.spec.template.as_ref())
        .and_then(|t| t.spec.as_ref())
        .map(|spec| {
            spec.domain
                .devices
                .interfaces
                .iter()
                .filter_map(|i| Some((i.name.clone(), i.mac_address.clone()?)))
                .collect()
        })
        .unwrap_or_default();
    for network in profile.status.iter().flat_map(|s| &s.networks) {
        if let Some(mac) = &network.mac_address {
            macs.insert(network.name.clone(), mac.clone());
        }
    }
    macs
}

/// What reading the user's own user data gave: the text (or none asked for), or why it is
/// not available (reason, message).
pub type UserData = std::result::Result<Option<String>, (String, String)>;

/// Reads the `userDataSecretRef` Secret's `userdata`: from what the last read gave while the
/// watch of Secrets says it has not changed, otherwise with a GET.
pub async fn user_data(ctx: &Context, profile: &VirtualMachineProfile) -> Result<UserData> {
    let me = ObjectRef::from(profile);
    let Some(reference) = profile
        .spec
        .cloud_init
        .as_ref()
        .and_then(|c| c.user_data_secret_ref.as_ref())
    else {
        ctx.tenant_secrets.user_data.name(&me, None);
        return Ok(Ok(None));
    };
    let namespace = profile.namespace().unwrap_or_default();
    let key = (namespace.clone(), reference.name.clone());
    // Named before the read: a change after it triggers this profile again.
    ctx.tenant_secrets.user_data.name(&me, Some(key.clone()));
    if let Some(data) = ctx.tenant_secrets.user_data.cached(&key) {
        return Ok(data);
    }
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace);
    ctx.metrics.read("Secret", "get");
    let Some(secret) = secrets.get_opt(&reference.name).await? else {
        return Ok(Err((
            vmop_api::reasons::USER_DATA_SECRET_NOT_FOUND.into(),
            format!(
                "spec.cloudInit.userDataSecretRef: Secret {namespace}/{} does not exist",
                reference.name
            ),
        )));
    };
    let version = secret.resource_version();
    let data = secret.data.unwrap_or_default();
    let read = match data.get("userdata").or_else(|| data.get("userData")) {
        Some(bytes) => Ok(Some(String::from_utf8_lossy(&bytes.0).into_owned())),
        None => Err((
            vmop_api::reasons::USER_DATA_KEY_MISSING.into(),
            format!(
                "spec.cloudInit.userDataSecretRef: Secret {namespace}/{} has no userdata key",
                reference.name
            ),
        )),
    };
    if let Some(version) = version {
        ctx.tenant_secrets.user_data.store(&key, version, &read);
    }
    Ok(read)
}

/// Reason of a VM not created yet because its networks or disks are not ready.
pub(crate) use vmop_api::reasons::WAITING_FOR_DEPENDENCIES;

/// Builds the VM and applies it when its networks and disks are ready or it already exists.
pub async fn reconcile_vm(
    ctx: &Context,
    profile: &VirtualMachineProfile,
    owner: Option<OwnerReference>,
    plan: &Plan,
    networks: &[NetworkOutcome],
    disks: &[DiskOutcome],
    user_data: UserData,
) -> Result<VmOutcome> {
    let namespace = profile.namespace().unwrap_or_default();
    let cached_vm = ctx
        .stores
        .vms
        .get(&ObjectRef::new(&profile.name_any()).within(&namespace));
    let user_data = match user_data {
        Ok(user_data) => user_data,
        Err((reason, message)) => {
            return Ok(VmOutcome::Waiting {
                reason,
                message,
                macs: pinned_macs(profile, cached_vm.as_deref()),
                secrets: existing_secrets(ctx, profile),
            });
        }
    };
    let input = TemplateInput {
        profile: profile.clone(),
        networks: networks.iter().map(|n| n.attachment.clone()).collect(),
        volumes: disks.iter().map(|d| d.attachment.clone()).collect(),
        macs: pinned_macs(profile, cached_vm.as_deref()),
        user_data,
    };
    if let Err(e) = plan.template.validate(&input) {
        return Ok(VmOutcome::Invalid(e.to_string()));
    }
    let desired = match plan.template.build(&input).await {
        Ok(desired) => desired,
        Err(e) => return Ok(VmOutcome::Invalid(e.to_string())),
    };

    let secret_names: Vec<String> = desired.secrets.iter().map(ResourceExt::name_any).collect();
    let networks_ready = networks.iter().all(|n| n.readiness.is_ready());
    // A disk waiting for its first consumer binds only once the VM's pod is scheduled: the
    // VM must exist first.
    let disks_ready = disks.iter().all(|d| d.readiness.attachable());
    if cached_vm.is_none() && !(networks_ready && disks_ready) {
        let waiting_for = match (networks_ready, disks_ready) {
            (false, false) => "networks and disks",
            (false, true) => "networks",
            _ => "disks",
        };
        // Not ready to start after all: whoever is next in line goes first.
        let policy = ctx.admin_policy.current();
        ctx.admission
            .release(&ProfileKey::of(profile), &|ns: &str| policy.start_cap(ns));
        return Ok(VmOutcome::Waiting {
            reason: WAITING_FOR_DEPENDENCIES.into(),
            message: format!("the VM is created once its {waiting_for} are ready"),
            macs: desired.macs,
            secrets: secret_names,
        });
    }

    if let Some(message) = start_line(ctx, profile, cached_vm.as_deref()) {
        return Ok(VmOutcome::Waiting {
            reason: QUEUED.into(),
            message,
            macs: desired.macs,
            secrets: secret_names,
        });
    }

    // The status names the VM once it was applied: its children existed.
    let vm_existed = profile.status.as_ref().is_some_and(|s| s.vm_name.is_some());
    apply_secrets(ctx, profile, owner.clone(), desired.secrets, vm_existed).await?;
    let vms: Api<VirtualMachine> = Api::namespaced(ctx.client.clone(), &namespace);
    let cached_json = cached_vm
        .as_ref()
        .and_then(|vm| serde_json::to_value(&**vm).ok());
    let done = ensure(
        ctx,
        &vms,
        desired.vm,
        owner,
        cached_vm.as_ref().map(|vm| &vm.metadata),
        cached_json,
        None,
    )
    .await?;
    if done == Applied::Created && vm_existed {
        child_recreated(ctx, profile, "VirtualMachine", &profile.name_any()).await;
    }
    Ok(VmOutcome::Applied {
        macs: desired.macs,
        secrets: secret_names,
    })
}

/// Reason of a profile waiting in line to start its VM.
pub(crate) use vmop_api::reasons::QUEUED;

/// The place in line, when the VM may not be created yet because as many VMs as the caps
/// allow are starting; frees the profile's place once its VM no longer starts.
fn start_line(
    ctx: &Context,
    profile: &VirtualMachineProfile,
    cached_vm: Option<&VirtualMachine>,
) -> Option<String> {
    let policy = ctx.admin_policy.current();
    let caps = |namespace: &str| policy.start_cap(namespace);
    let key = ProfileKey::of(profile);
    match cached_vm {
        // A stopped VM this pass would start (runStrategy Halted -> Always) takes a place too.
        Some(vm)
            if admission::would_start(vm, profile)
                && ctx.admission.limited(caps(&key.namespace)) =>
        {
            let decision = ctx
                .admission
                .request(&key, &admission::order_of(profile), &caps);
            ctx.admission.queued_message(&decision)
        }
        Some(vm) if !admission::still_starting(vm) => {
            ctx.admission.release(&key, &caps);
            None
        }
        Some(_) => None,
        // No longer asking to start (halted, or the caps were lifted): out of the line.
        None if !admission::starts_when_created(profile)
            || !ctx.admission.limited(caps(&key.namespace)) =>
        {
            ctx.admission.release(&key, &caps);
            None
        }
        None => {
            let decision = ctx
                .admission
                .request(&key, &admission::order_of(profile), &caps);
            ctx.admission.queued_message(&decision)
        }
    }
}

/// Applies the VM's Secrets (its cloud-init user data); one recreated after the VM existed
/// was deleted by hand, and is said so in an Event.
async fn apply_secrets(
    ctx: &Context,
    profile: &VirtualMachineProfile,
    owner: Option<OwnerReference>,
    desired: Vec<Secret>,
    vm_existed: bool,
) -> Result<()> {
    let namespace = profile.namespace().unwrap_or_default();
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace);
    for secret in desired {
        let name = secret.name_any();
        let cached = ctx
            .stores
            .secrets
            .get(&ObjectRef::new(&name).within(&namespace));
        let metadata = cached.as_ref().map(|s| &s.metadata);
        let done = ensure(ctx, &secrets, secret, owner.clone(), metadata, None, None).await?;
        if done == Applied::Created && vm_existed {
            child_recreated(ctx, profile, "Secret", &name).await;
        }
    }
    Ok(())
}

/// Secrets of this profile that exist now (kept while the template cannot say).
fn existing_secrets(ctx: &Context, profile: &VirtualMachineProfile) -> Vec<String> {
    let stores = &ctx.stores;
    crate::converge::cleanup::children((&stores.secrets, &stores.index.secrets), profile)
}
