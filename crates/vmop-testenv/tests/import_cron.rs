//! The test world's CDI DataImportCron, as upstream's controller and source poller act: the
//! initial poll imports the registry's digest into a version named after the managed
//! DataSource, the DataSource points at it and is Ready; a new digest pushed to the registry
//! is imported at the next scheduled poll, the DataSource moves, and versions beyond
//! `importsToKeep` are deleted; deleting the cron deletes what it made (`retentionPolicy:
//! None`). Observed only through the API server.

use std::time::Duration;

use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use kube::{Api, api::DeleteParams};
use serde_json::json;
use vmop_testenv::{
    TestEnv, TestNamespace,
    sim::{
        kinds::cdi::{DataImportCron, DataSource, DataVolume},
        registry,
    },
};

/// A poll comes at most a minute after the push (`* * * * *`), then the import.
const WAIT: Duration = Duration::from_secs(150);

/// Polls `check` until it gives a value, failing after [`WAIT`].
async fn until<T>(what: &str, check: impl AsyncFn() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {WAIT:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn version(data_source: &str, digest: &str) -> String {
    let hex = digest.trim_start_matches("sha256:");
    format!("{data_source}-{}", &hex[..12])
}

/// The claim a DataSource points at, once it is Ready.
fn ready_claim(source: &DataSource) -> Option<String> {
    let ready = source
        .status
        .as_ref()?
        .conditions
        .iter()
        .any(|c| c.type_ == "Ready" && c.status == "True");
    ready.then(|| source.spec.source.pvc.as_ref().map(|p| p.name.clone()))?
}

async fn create_cron(ns: &TestNamespace, url: &str) {
    let cron: DataImportCron = serde_json::from_value(json!({
        "apiVersion": "cdi.kubevirt.io/v1beta1",
        "kind": "DataImportCron",
        "metadata": {"name": "fedora", "namespace": ns.name},
        "spec": {
            "schedule": "* * * * *",
            "managedDataSource": "fedora",
            "importsToKeep": 1,
            "garbageCollect": "Outdated",
            "retentionPolicy": "None",
            "template": {"spec": {
                "source": {"registry": {"url": url}},
                "storage": {
                    // k3s's default class binds on first consumer: CDI's importer pod is it.
                    "storageClassName": "local-path",
                    "resources": {"requests": {"storage": "1Gi"}}
                }
            }}
        }
    }))
    .expect("a DataImportCron");
    vmop_testenv::create_unchanged(&ns.api::<DataImportCron>(), &cron)
        .await
        .expect("the upstream schema accepts the cron as written");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cron_imports_each_new_digest_moves_its_data_source_and_keeps_imports_to_keep() {
    let ns = TestEnv::shared().namespace("cdi-cron").await;
    let client = TestEnv::shared().client().await;
    // A reference of this namespace's own: no other test pushes it.
    let url = format!("docker://registry.example.com/{}/fedora:40", ns.name);
    let first = registry::digest(&client, &url).await.expect("digest");
    create_cron(&ns, &url).await;

    let sources: Api<DataSource> = ns.api();
    let first_version = version("fedora", &first);
    let claim = until("the DataSource to point at the first import", async || {
        ready_claim(&sources.get_opt("fedora").await.ok()??)
    })
    .await;
    assert_eq!(claim, first_version);
    let dvs: Api<DataVolume> = ns.api();
    let imported = dvs.get(&first_version).await.expect("the first version");
    let registry_url = imported
        .spec
        .source
        .as_ref()
        .and_then(|s| s.registry.as_ref())
        .and_then(|r| r.url.clone());
    assert_eq!(
        registry_url.as_deref(),
        Some(registry::digested_url(&url, &first).as_str()),
        "the version imports the digest, not the tag"
    );
    let crons: Api<DataImportCron> = ns.api();
    until("the cron's status to name the first version", async || {
        let status = crons.get_opt("fedora").await.ok()??.status?;
        let last = status.last_imported_pvc?.name;
        (last == first_version).then_some(())
    })
    .await;

    let second = registry::push(&client, &url).await.expect("push");
    let second_version = version("fedora", &second);
    let claim = until("the DataSource to move to the pushed digest", async || {
        let claim = ready_claim(&sources.get_opt("fedora").await.ok()??)?;
        (claim != first_version).then_some(claim)
    })
    .await;
    assert_eq!(claim, second_version);
    let claims: Api<PersistentVolumeClaim> = ns.api();
    until("the first version pruned (importsToKeep: 1)", async || {
        let gone = claims.get_opt(&first_version).await.ok()?.is_none()
            && dvs.get_opt(&first_version).await.ok()?.is_none();
        gone.then_some(())
    })
    .await;
    assert!(
        claims
            .get_opt(&second_version)
            .await
            .expect("get")
            .is_some(),
        "the newest version is kept"
    );

    crons
        .delete("fedora", &DeleteParams::default())
        .await
        .expect("delete the cron");
    until(
        "the cron's versions and DataSource deleted with it",
        async || {
            let gone = sources.get_opt("fedora").await.ok()?.is_none()
                && dvs.get_opt(&second_version).await.ok()?.is_none()
                && crons.get_opt("fedora").await.ok()?.is_none();
            gone.then_some(())
        },
    )
    .await;
}
