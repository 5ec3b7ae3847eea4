//! The macvlan plugin through the real vm-operator controller on the test control plane, in
//! a registry of its own (the bundled cloud-init template and pvc backend, plus macvlan):
//! refused until the administrator's policy allows the node interface, then the NAD, the VM
//! attached to it, Running with the static address; deleting the profile removes the NAD.

use std::{sync::Arc, time::Duration};

use kube::{Api, ResourceExt, api::PostParams};
use vmop_controller::{
    AdminPolicy, AdminPolicySource, ControllerConfig, Metrics, Timing, controller,
};
use vmop_example_macvlan_network::{MacvlanPlugin, NAME};
use vmop_plugin::{
    NetworkPlugin, Registries, StorageBackend, VMTemplate,
    vmop_api::{
        DiskSpec, NetworkSpec, Phase, VirtualMachineProfile,
        external::{kubevirt::VirtualMachine, multus::NetworkAttachmentDefinition},
        fixtures::valid_profile,
    },
};
use vmop_storage_pvc::PvcBackend;
use vmop_template_cloudinit::CloudInitTemplate;
use vmop_testenv::{TestEnv, wait};

const WAIT: Duration = Duration::from_secs(90);

fn registries() -> Registries {
    let mut registries = Registries::empty();
    let network: Arc<dyn NetworkPlugin> = Arc::new(MacvlanPlugin);
    let storage: Arc<dyn StorageBackend> = Arc::new(PvcBackend);
    let template: Arc<dyn VMTemplate> = Arc::new(CloudInitTemplate);
    registries
        .networks
        .register(NAME, "vmop_example_macvlan_network", network)
        .expect("macvlan");
    registries
        .storage
        .register(vmop_storage_pvc::NAME, "vmop_storage_pvc", storage)
        .expect("pvc");
    registries
        .templates
        .register(
            vmop_template_cloudinit::NAME,
            "vmop_template_cloudinit",
            template,
        )
        .expect("cloud-init");
    registries
}

fn ready_reason(p: &VirtualMachineProfile) -> Option<String> {
    p.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| c.reason.clone())
}

async fn run(
    namespace: &str,
    policy: AdminPolicy,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = controller(
        TestEnv::shared().client().await,
        Arc::new(registries()),
        Arc::new(Metrics::default()),
        ControllerConfig::default()
            .namespace(namespace)
            .concurrency(2)
            .timing(Timing::default().converging(Duration::from_millis(500)))
            .admin_policy(AdminPolicySource::Fixed(policy)),
        async move {
            let _ = stopped.await;
        },
    );
    (stop, tokio::spawn(running.run()))
}

#[tokio::test]
async fn a_macvlan_profile_runs_through_the_real_controller_and_cleans_up() {
    let ns = TestEnv::shared().namespace("macvlan").await;
    let mut profile = valid_profile("mv-vm");
    profile.spec.networks = vec![NetworkSpec {
        name: "lan".into(),
        type_: Some(NAME.into()),
        node_interface: Some("eth1".into()),
        ip_address: Some("192.168.60.10/24".into()),
        ..NetworkSpec::default()
    }];
    profile.spec.disks = vec![DiskSpec {
        name: "data".into(),
        size: "1Gi".into(),
        storage_class_name: Some("longhorn".into()),
        ..DiskSpec::default()
    }];
    profile.spec.cloud_init = None;
    let profiles: Api<VirtualMachineProfile> = ns.api();
    let nads: Api<NetworkAttachmentDefinition> = ns.api();

    // Without the administrator's consent the node NIC is not the tenant's to use.
    let (stop, task) = run(&ns.name, AdminPolicy::default()).await;
    profiles
        .create(&PostParams::default(), &profile)
        .await
        .expect("profile");
    wait::until("the refusal", WAIT, || async {
        let p = profiles.get_opt("mv-vm").await.ok().flatten()?;
        (ready_reason(&p).as_deref() == Some("NotAllowed")).then_some(())
    })
    .await
    .expect("NotAllowed");
    assert!(nads.get_opt("mv-vm--lan").await.expect("get").is_none());
    let _ = stop.send(());
    let _ = task.await;

    let allowed = AdminPolicy::parse(&format!(
        "nodeNetworks:\n  - namespaces: [{}]\n    nodeInterfaces: [eth1]\n",
        ns.name
    ))
    .expect("policy");
    let (stop, task) = run(&ns.name, allowed).await;
    let running = wait::wait_for_phase(&profiles, "mv-vm", Phase::Running, WAIT)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let lan = &running.status.expect("status").networks[0];
    assert_eq!(
        lan.ip_addresses,
        vec!["192.168.60.10".to_owned()],
        "{lan:?}"
    );

    let nad = nads.get("mv-vm--lan").await.expect("the NAD");
    let cni: serde_json::Value =
        serde_json::from_str(nad.spec.config.as_deref().expect("config")).expect("JSON");
    assert_eq!(
        (cni["type"].as_str(), cni["master"].as_str()),
        (Some("macvlan"), Some("eth1"))
    );
    assert_eq!(
        nad.labels()
            .get("vmoperator.io/profile")
            .map(String::as_str),
        Some("mv-vm")
    );
    let vm = ns.api::<VirtualMachine>().get("mv-vm").await.expect("VM");
    let networks = serde_json::to_value(&vm.spec.template).expect("template");
    assert!(
        networks
            .to_string()
            .contains(&format!("{}/mv-vm--lan", ns.name)),
        "the VM attaches to the NAD: {networks}"
    );

    profiles
        .delete("mv-vm", &Default::default())
        .await
        .expect("delete");
    wait::until("the profile and its NAD to be gone", WAIT, || async {
        let profile_gone = profiles.get_opt("mv-vm").await.ok()?.is_none();
        let nad_gone = nads.get_opt("mv-vm--lan").await.ok()?.is_none();
        (profile_gone && nad_gone).then_some(())
    })
    .await
    .expect("cleaned up");
    let _ = stop.send(());
    let _ = task.await;
}
