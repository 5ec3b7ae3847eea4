//! What plugins build, created on the real API server and read back unchanged (see
//! [`create_unchanged`]): one loop for every plugin crate's "accepted by the API server"
//! test.

use kube::Api;
use vmop_api::external::{
    multus::NetworkAttachmentDefinition, nmstate::NodeNetworkConfigurationPolicy,
};
use vmop_plugin::{DesiredNetwork, DesiredVolume, VolumeObject};

use crate::{TestNamespace, create_unchanged};

/// Creates each network plugin output in `ns`: its NAD named after the case, and its node
/// policies (cluster-scoped) named `<namespace>-<case>` so that runs never collide. Panics
/// naming the case and the object the API server refused or changed; returns how many
/// objects were created.
pub async fn networks_accepted(
    ns: &TestNamespace,
    outputs: impl IntoIterator<Item = (String, DesiredNetwork)>,
) -> usize {
    let nads: Api<NetworkAttachmentDefinition> = ns.api();
    let policies: Api<NodeNetworkConfigurationPolicy> = Api::all(ns.client.clone());
    let mut created = 0;
    for (case, desired) in outputs {
        if let Some(mut nad) = desired.nad {
            nad.metadata.namespace = Some(ns.name.clone());
            nad.metadata.name = Some(case.clone());
            create_unchanged(&nads, &nad)
                .await
                .unwrap_or_else(|e| panic!("{case}: NAD {e}"));
            created += 1;
        }
        for (i, mut policy) in desired.policies.into_iter().enumerate() {
            policy.metadata.name = Some(format!("{}-{case}-{i}", ns.name));
            create_unchanged(&policies, &policy)
                .await
                .unwrap_or_else(|e| panic!("{case}: policy {e}"));
            created += 1;
        }
    }
    created
}

/// Creates each storage backend output in `ns`, its claim or DataVolume named after the
/// case. Panics naming the case when the API server refused or changed it; returns how many
/// were created.
pub async fn volumes_accepted(
    ns: &TestNamespace,
    outputs: impl IntoIterator<Item = (String, DesiredVolume)>,
) -> usize {
    let claims: Api<vmop_api::k8s_openapi::api::core::v1::PersistentVolumeClaim> = ns.api();
    let data_volumes: Api<vmop_api::external::cdi::DataVolume> = ns.api();
    let mut created = 0;
    for (case, desired) in outputs {
        match desired.object {
            VolumeObject::Claim(mut claim) => {
                claim.metadata.namespace = Some(ns.name.clone());
                claim.metadata.name = Some(case.clone());
                create_unchanged(&claims, &claim)
                    .await
                    .unwrap_or_else(|e| panic!("{case}: claim {e}"));
            }
            VolumeObject::DataVolume(mut dv) => {
                dv.metadata.namespace = Some(ns.name.clone());
                dv.metadata.name = Some(case.clone());
                create_unchanged(&data_volumes, &dv)
                    .await
                    .unwrap_or_else(|e| panic!("{case}: DataVolume {e}"));
            }
        }
        created += 1;
    }
    created
}
