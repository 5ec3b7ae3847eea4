//! Carrying out the requests: what [`restart::step`] and [`migrate::step`] decided, asked
//! of KubeVirt.

use kube::{
    Api, ResourceExt,
    api::{Patch, PatchParams},
    runtime::reflector::ObjectRef,
};
use serde_json::json;
use tracing::info;
use vmop_api::{
    MIGRATE_ANNOTATION, RESTART_ANNOTATION, RequestStatus, VirtualMachineProfile,
    VirtualMachineProfileStatus,
    external::kubevirt::{VirtualMachine, VirtualMachineInstance, VirtualMachineInstanceMigration},
};

use crate::{
    context::Context,
    converge::apply::{ensure, kind_of, owner_reference},
    error::Result,
    requests::{migrate, restart},
};

/// The restart and migration requests as this pass leaves them, after asking KubeVirt for
/// what they need now.
pub(crate) async fn carry_out(
    ctx: &Context,
    profile: &VirtualMachineProfile,
    old: &VirtualMachineProfileStatus,
    vm: Option<&VirtualMachine>,
    vmi: Option<&VirtualMachineInstance>,
) -> Result<(Option<RequestStatus>, Option<RequestStatus>)> {
    let namespace = profile.namespace().unwrap_or_default();
    let annotation = |key: &str| profile.annotations().get(key).map(String::as_str);
    let restart = restart::step(
        annotation(RESTART_ANNOTATION),
        old.restart.as_deref(),
        vm,
        vmi,
    );
    if let Some(uid) = &restart.stop {
        ask_restart(ctx, &namespace, &profile.name_any(), uid).await?;
    }
    let migration = old
        .migration
        .as_ref()
        .and_then(|m| m.migration_name.as_ref())
        .and_then(|n| {
            ctx.stores
                .migrations
                .get(&ObjectRef::new(n).within(&namespace))
        });
    let migrate = migrate::step(
        (&profile.name_any(), &namespace),
        annotation(MIGRATE_ANNOTATION),
        old.migration.as_deref(),
        vmi,
        migration.as_deref(),
    );
    if let Some(object) = migrate.create {
        let migrations: Api<VirtualMachineInstanceMigration> =
            Api::namespaced(ctx.client.clone(), &namespace);
        let owner = owner_reference(profile);
        ensure(ctx, &migrations, object, owner, None, None, None).await?;
    }
    Ok((restart.recorded, migrate.recorded))
}

/// Asks KubeVirt to restart the VM as `virtctl restart` does: a Stop for the instance `uid`
/// and a Start, on the VirtualMachine's status.
async fn ask_restart(ctx: &Context, namespace: &str, name: &str, uid: &str) -> Result<()> {
    let vms: Api<VirtualMachine> = Api::namespaced(ctx.client.clone(), namespace);
    let patch = json!({"status": {"stateChangeRequests": restart::restart_requests(uid)}});
    vms.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    ctx.metrics.wrote(kind_of::<VirtualMachine>(), "restart");
    info!(instance = uid, "asked KubeVirt to restart the VM");
    Ok(())
}
