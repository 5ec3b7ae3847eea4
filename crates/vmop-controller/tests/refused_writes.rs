//! The API server refuses the operator's writes for a while (an admission policy denying
//! NAD writes in the namespace, as a maintenance window or a quota tool would): the profile
//! says so (ApplyRejected with the API server's message, and a Warning Event), nothing else
//! of it is written meanwhile, and it converges by itself once the window closes.

mod common;

use common::{Operator, condition, phase, wait_for};
use k8s_openapi::api::{
    admissionregistration::v1::{ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding},
    events::v1::Event,
};
use kube::{
    Api,
    api::{DeleteParams, ListParams, Patch, PatchParams, PostParams},
};
use serde_json::json;
use vmop_api::{
    NetworkSpec, Phase, VirtualMachineProfile,
    external::{kubevirt::VirtualMachine, multus::NetworkAttachmentDefinition},
    fixtures::valid_profile,
};
use vmop_testenv::{TestEnv, wait};

const MESSAGE: &str = "NAD writes are refused during the maintenance window";

#[tokio::test]
async fn writes_refused_for_a_window_are_reported_and_retried_until_they_pass() {
    let ns = TestEnv::shared().namespace("refused").await;
    let name = format!("refuse-nads-{}", ns.name);
    let params = PatchParams::apply("refused-writes-test").force();
    let policy: ValidatingAdmissionPolicy = serde_json::from_value(json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": [{
                "apiGroups": ["k8s.cni.cncf.io"], "apiVersions": ["*"],
                "operations": ["CREATE", "UPDATE"], "resources": ["network-attachment-definitions"]
            }]},
            "validations": [{"expression": "false", "message": MESSAGE}]
        }
    }))
    .expect("policy");
    let binding: ValidatingAdmissionPolicyBinding = serde_json::from_value(json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name},
        "spec": {
            "policyName": name,
            "validationActions": ["Deny"],
            "matchResources": {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns.name}}}
        }
    }))
    .expect("binding");
    let policies = Api::<ValidatingAdmissionPolicy>::all(ns.client.clone());
    let bindings = Api::<ValidatingAdmissionPolicyBinding>::all(ns.client.clone());
    policies
        .patch(&name, &params, &Patch::Apply(&policy))
        .await
        .expect("policy");
    bindings
        .patch(&name, &params, &Patch::Apply(&binding))
        .await
        .expect("binding");
    // Admission policies take effect when the API server's informer has them.
    let nads: Api<NetworkAttachmentDefinition> = ns.api();
    let probe = NetworkAttachmentDefinition::new("probe", Default::default());
    wait::until("the window to open", common::WAIT, || async {
        let dry = PostParams {
            dry_run: true,
            ..PostParams::default()
        };
        nads.create(&dry, &probe).await.is_err().then_some(())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));

    let operator = Operator::start(&ns).await;
    let profiles: Api<VirtualMachineProfile> = ns.api();
    let mut profile = valid_profile("patient");
    profile.spec.networks = vec![NetworkSpec {
        name: "lan".into(),
        bridge: Some("br-refused".into()),
        ..NetworkSpec::default()
    }];
    profile.spec.disks.truncate(1);
    profile.spec.disks[0].storage_class_name = Some("longhorn".into());
    profiles
        .create(&PostParams::default(), &profile)
        .await
        .expect("profile");
    let refused = wait_for(&profiles, "patient", "the refusal in status", |p| {
        condition(p, "Ready").is_some_and(|c| c.reason == "ApplyRejected")
    })
    .await;
    let message = condition(&refused, "Ready")
        .map(|c| c.message.clone())
        .unwrap_or_default();
    assert!(
        message.contains("patient--lan") && message.contains(MESSAGE),
        "{message}"
    );
    let events: Api<Event> = ns.api();
    wait::until(
        "a Warning Event about the refusal",
        common::WAIT,
        || async {
            let list = events.list(&ListParams::default()).await.ok()?;
            list.items
                .iter()
                .any(|e| {
                    e.type_.as_deref() == Some("Warning")
                        && e.note.as_deref().is_some_and(|n| n.contains(MESSAGE))
                })
                .then_some(())
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    // Retried with backoff meanwhile, and nothing else of the profile was written.
    let before = operator.metrics.reconciles_total();
    wait::until("another try while refused", common::WAIT, || async {
        (operator.metrics.reconciles_total() > before).then_some(())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let vms: Api<VirtualMachine> = ns.api();
    assert!(
        vms.get_opt("patient").await.expect("get").is_none(),
        "no VM while its network cannot be written"
    );

    // The window closes: converged without anyone touching the profile.
    bindings
        .delete(&name, &DeleteParams::default())
        .await
        .expect("close the window");
    wait_for(&profiles, "patient", "the profile to run", |p| {
        phase(p) == Some(Phase::Running)
    })
    .await;
    policies
        .delete(&name, &DeleteParams::default())
        .await
        .expect("policy");
    operator.stop().await;
}
