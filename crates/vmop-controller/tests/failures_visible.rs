//! Every failure is visible in status: a child the API server refuses for good names the
//! object and carries the server's message; a spec the template refuses creates nothing; a
//! deletion that waits says what for, with an Event, until it can finish.

mod common;

use std::sync::Arc;

use common::{Operator, blank_disk_profile, condition, phase, wait_for, wait_gone};
use k8s_openapi::api::core::v1::{Event, PersistentVolumeClaim};
use kube::{
    Api,
    api::{DeleteParams, ListParams, Patch, PatchParams, PostParams},
};
use serde_json::json;
use vmop_api::{
    NetworkSpec, Phase, VirtualMachineProfile,
    external::{cdi::DataVolume, kubevirt::VirtualMachine},
};
use vmop_plugin::{
    DesiredNetwork, NetworkConfig, NetworkPlugin, ObservedNetwork, PluginError, Readiness,
    Registries, StorageBackend, VMTemplate, async_trait,
    objects::{existing_nad, nad},
};
use vmop_testenv::TestEnv;

/// A third-party network plugin with a bug: its NAD carries an annotation key the API
/// server refuses.
#[derive(Debug)]
struct BrokenPlugin;

#[async_trait]
impl NetworkPlugin for BrokenPlugin {
    fn validate(&self, _: &NetworkConfig) -> Result<(), PluginError> {
        Ok(())
    }

    async fn build(&self, config: &NetworkConfig) -> Result<DesiredNetwork, PluginError> {
        let mut desired = existing_nad(config, vmop_plugin::InterfaceBinding::Bridge)
            .unwrap_or_else(|| DesiredNetwork {
                nad: None,
                policies: Vec::new(),
                attachment: vmop_plugin::NetworkAttachment {
                    name: config.network.name.clone(),
                    nad: format!(
                        "{}/{}",
                        config.profile.namespace,
                        vmop_plugin::objects::nad_name(config)
                    ),
                    binding: vmop_plugin::InterfaceBinding::Bridge,
                    node_selector: None,
                },
            });
        let mut object = nad(
            config,
            &json!({"cniVersion": "0.3.1", "type": "bridge"}),
            "",
        );
        object
            .metadata
            .annotations
            .get_or_insert_with(Default::default)
            .insert("not a valid/key/at all".into(), "x".into());
        desired.nad = Some(object);
        Ok(desired)
    }

    fn readiness(&self, _: &DesiredNetwork, _: &ObservedNetwork) -> Readiness {
        Readiness::Ready
    }
}

fn registries_with_broken_network() -> Registries {
    let mut r = Registries::empty();
    let broken: Arc<dyn NetworkPlugin> = Arc::new(BrokenPlugin);
    r.networks
        .register("broken", "test", broken)
        .expect("broken");
    let pvc: Arc<dyn StorageBackend> = Arc::new(vmop_storage_pvc::PvcBackend);
    r.storage.register("pvc", "test", pvc).expect("pvc");
    let template: Arc<dyn VMTemplate> = Arc::new(vmop_template_cloudinit::CloudInitTemplate);
    r.templates
        .register("cloud-init", "test", template)
        .expect("template");
    r
}

#[tokio::test]
async fn a_child_the_api_server_refuses_is_named_in_status_with_the_servers_message() {
    let ns = TestEnv::shared().namespace("visible-422").await;
    let operator = Operator::start_with(&ns, registries_with_broken_network()).await;
    let mut profile = blank_disk_profile("refused", "data", "longhorn");
    profile.spec.networks = vec![NetworkSpec {
        name: "lan".into(),
        type_: Some("broken".into()),
        ..NetworkSpec::default()
    }];
    let profiles: Api<VirtualMachineProfile> = ns.api();
    profiles
        .create(&PostParams::default(), &profile)
        .await
        .expect("profile");
    let refused = wait_for(&profiles, "refused", "the refusal to be reported", |p| {
        condition(p, "Ready").is_some_and(|c| c.reason == "ApplyRejected")
    })
    .await;
    let message = condition(&refused, "Ready")
        .map(|c| c.message.clone())
        .unwrap_or_default();
    assert!(
        message
            .starts_with("NetworkAttachmentDefinition refused--lan: the API server refused it: "),
        "{message}"
    );
    assert!(message.contains("metadata.annotations"), "{message}");
    assert_eq!(
        phase(&refused),
        Some(Phase::Pending),
        "never an empty phase"
    );
    operator.stop().await;
}

#[tokio::test]
async fn a_spec_the_template_refuses_creates_nothing() {
    let ns = TestEnv::shared().namespace("visible-template").await;
    let operator = Operator::start(&ns).await;
    let mut profile = blank_disk_profile("clash", "data", "longhorn");
    // The template names its own cloud-init disk "cloudinitdisk": a spec disk of that name
    // cannot be built.
    profile.spec.disks[0].name = "cloudinitdisk".into();
    let profiles: Api<VirtualMachineProfile> = ns.api();
    profiles
        .create(&PostParams::default(), &profile)
        .await
        .expect("profile");
    let invalid = wait_for(&profiles, "clash", "the template's refusal", |p| {
        condition(p, "Ready").is_some_and(|c| c.reason == "InvalidSpec")
    })
    .await;
    let message = condition(&invalid, "Ready")
        .map(|c| c.message.clone())
        .unwrap_or_default();
    assert!(message.contains("spec.disks[0].name"), "{message}");
    let claims: Api<PersistentVolumeClaim> = ns.api();
    let dvs: Api<DataVolume> = ns.api();
    assert!(
        claims
            .list(&ListParams::default())
            .await
            .expect("list")
            .items
            .is_empty()
    );
    assert!(
        dvs.list(&ListParams::default())
            .await
            .expect("list")
            .items
            .is_empty()
    );
    operator.stop().await;
}

#[tokio::test]
async fn a_deletion_that_waits_says_what_for_and_finishes_when_it_can() {
    let ns = TestEnv::shared().namespace("visible-delete").await;
    let operator = Operator::start(&ns).await;
    let profiles: Api<VirtualMachineProfile> = ns.api();
    profiles
        .create(
            &PostParams::default(),
            &blank_disk_profile("stuck", "data", "longhorn"),
        )
        .await
        .expect("profile");
    wait_for(&profiles, "stuck", "the profile to run", |p| {
        phase(p) == Some(Phase::Running)
    })
    .await;
    // KubeVirt holds the VM with a finalizer of its own, as a stuck virt-controller would.
    let vms: Api<VirtualMachine> = ns.api();
    vms.patch(
        "stuck",
        &PatchParams::default(),
        &Patch::Merge(
            json!({"metadata": {"finalizers": ["kubevirt.io/virtualMachineControllerFinalize"]}}),
        ),
    )
    .await
    .expect("finalizer");
    profiles
        .delete("stuck", &DeleteParams::default())
        .await
        .expect("delete");
    let waiting = wait_for(&profiles, "stuck", "the wait to be reported", |p| {
        condition(p, "Ready").is_some_and(|c| c.reason == "DeletionWaiting")
    })
    .await;
    assert_eq!(phase(&waiting), Some(Phase::Terminating));
    let message = condition(&waiting, "Ready")
        .map(|c| c.message.clone())
        .unwrap_or_default();
    assert_eq!(
        message,
        format!("waiting for VirtualMachine {}/stuck to go", ns.name)
    );
    let events: Api<Event> = ns.api();
    vmop_testenv::wait::until("an Event about the wait", common::WAIT, || async {
        let list = events.list(&ListParams::default()).await.ok()?;
        list.items
            .iter()
            .any(|e| {
                e.message
                    .as_deref()
                    .is_some_and(|n| n.contains("waiting for VirtualMachine"))
            })
            .then_some(())
    })
    .await
    .expect("Event");

    vms.patch(
        "stuck",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .expect("release");
    wait_gone(&profiles, "stuck", "the deletion to finish").await;
    operator.stop().await;
}
