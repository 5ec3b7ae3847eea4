//! Every watch cache the controller reads, each declared once ([`watch_all`]): its watch, its
//! store, which profiles its events trigger, and its part in "synced".

use std::{collections::BTreeMap, sync::Arc};

use futures::{
    FutureExt, Stream, StreamExt,
    future::{self, BoxFuture},
    stream::BoxStream,
};
use k8s_openapi::api::{
    core::v1::{ConfigMap, PersistentVolumeClaim, ResourceQuota, Secret},
    networking::v1::NetworkPolicy,
    storage::v1::StorageClass,
};
use kube::{
    Api, Client, ResourceExt,
    core::PartialObjectMeta,
    runtime::{
        reflector::{ObjectRef, Store},
        watcher,
    },
};
use vmop_api::{
    PROFILE_LABEL, VirtualMachineProfile,
    external::{
        cdi::DataVolume,
        instancetype::{
            VirtualMachineClusterInstancetype, VirtualMachineClusterPreference,
            VirtualMachineInstancetype, VirtualMachinePreference,
        },
        kubevirt::{
            VirtualMachine, VirtualMachineInstance, VirtualMachineInstanceMigration,
            VirtualMachineRestore, VirtualMachineSnapshot,
        },
        multinetworkpolicy::MultiNetworkPolicy,
        multus::NetworkAttachmentDefinition,
        nmstate::{
            ENACTMENT_POLICY_LABEL, NodeNetworkConfigurationEnactment,
            NodeNetworkConfigurationPolicy,
        },
    },
    image::VirtualMachineImage,
};
use vmop_plugin::objects::MANAGED_POLICY_LABEL;

use crate::{
    cache::{
        admin_policy::AdminPolicyHandle,
        index::{Indexes, LabelIndex},
        packed::PackedStore,
        queue::controlling_profiles,
        relist::relisting,
        tenant_secrets::TenantSecrets,
        trim::{self, strip},
        watch_health::WatchHealth,
        watches::{
            Cacheable, Enqueue, api, cached, cached_changes, cached_when_installed, labelled,
            logged, packed, readiness_fingerprint,
        },
    },
    config::AdminPolicySource,
    desired::{claims::Claims, plan::node_policy_scope},
};

/// Watch caches of everything the controller reads. Reconciles read only from here.
#[derive(Clone)]
pub struct Stores {
    /// The profiles (stripped of managed fields), each as its compressed JSON: decoded, one
    /// took about 6 KiB, most of it strings and empty options.
    pub profiles: PackedStore<VirtualMachineProfile>,
    /// Every NAD (metadata only): existing ones named by `nadName` are not ours.
    pub nads: PackedStore<PartialObjectMeta<NetworkAttachmentDefinition>>,
    /// The shared node policies of this operator's scope.
    pub node_policies: Store<NodeNetworkConfigurationPolicy>,
    /// What each node reported of a policy.
    pub enactments: Store<NodeNetworkConfigurationEnactment>,
    /// Claims of profiles (by label).
    pub claims: PackedStore<PersistentVolumeClaim>,
    /// DataVolumes of profiles (by label).
    pub data_volumes: PackedStore<DataVolume>,
    /// VirtualMachines of profiles (by label).
    pub vms: PackedStore<VirtualMachine>,
    /// Their instances (by label).
    pub vmis: PackedStore<VirtualMachineInstance>,
    /// Secrets of profiles (metadata only, by label).
    pub secrets: PackedStore<PartialObjectMeta<Secret>>,
    /// Every StorageClass: what a disk's class resolves to.
    pub storage_classes: Store<StorageClass>,
    /// The ResourceQuotas of the watched namespaces: what a new profile may still create.
    pub resource_quotas: Store<ResourceQuota>,
    /// KubeVirt instancetypes and preferences that profiles may name (preferences: metadata
    /// only, their existence is all the operator checks).
    pub cluster_instancetypes: Store<VirtualMachineClusterInstancetype>,
    /// Namespaced instancetypes profiles may name.
    pub instancetypes: Store<VirtualMachineInstancetype>,
    /// Cluster-wide preferences (metadata only: existence is all that is checked).
    pub cluster_preferences: Store<PartialObjectMeta<VirtualMachineClusterPreference>>,
    /// Namespaced preferences (metadata only).
    pub preferences: Store<PartialObjectMeta<VirtualMachinePreference>>,
    /// The isolation NetworkPolicies of profiles (metadata only).
    pub network_policies: PackedStore<PartialObjectMeta<NetworkPolicy>>,
    /// Their MultiNetworkPolicies (metadata only); filled only where multi-networkpolicy's CRD
    /// is installed, see [`crate::Context::multi_network_policies_installed`].
    pub multi_network_policies: PackedStore<PartialObjectMeta<MultiNetworkPolicy>>,
    /// Live migrations asked for by profiles.
    pub migrations: PackedStore<VirtualMachineInstanceMigration>,
    /// The VM snapshots the operator took (by label, with no owner: a profile's deletion
    /// keeps or deletes them by its disks' retention).
    pub snapshots: PackedStore<VirtualMachineSnapshot>,
    /// Restores asked for by profiles.
    pub restores: PackedStore<VirtualMachineRestore>,
    /// The catalog images (VirtualMachineImages) disks may clone with `imageRef`.
    pub images: Store<VirtualMachineImage>,
    /// Lookups by label into the caches above, so that no reconcile scans them.
    pub index: Indexes,
}

impl std::fmt::Debug for Stores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stores")
            .field("profiles", &self.profiles.len())
            .finish_non_exhaustive()
    }
}

/// The watches behind [`Stores`], not yet polled.
pub(crate) struct Watches {
    /// The caches (they fill while the streams below run).
    pub stores: Stores,
    /// The administrator's policy, from its own cache when it is a ConfigMap.
    pub admin_policy: AdminPolicyHandle,
    /// Profiles to reconcile because something they read changed.
    pub triggers: BoxStream<'static, ObjectRef<VirtualMachineProfile>>,
    /// The watches that only fill caches: polled for as long as the controller runs.
    pub read_only: BoxFuture<'static, ()>,
    /// Resolves once every cache has its first full list; true when all did.
    pub synced: BoxFuture<'static, bool>,
    /// Whether the MultiNetworkPolicy CRD is installed (found by discovery).
    pub multi_network_policies_installed: Arc<std::sync::atomic::AtomicBool>,
}

/// What the watches share.
pub(crate) struct Scope<'a> {
    pub client: &'a Client,
    /// The namespace watched, `None` for all.
    pub namespace: Option<&'a str>,
    pub health: &'a Arc<WatchHealth>,
    pub enqueue: Enqueue,
    /// Shared objects map to their users through the claims' indexes, never a scan.
    pub claims: &'a Arc<Claims>,
    pub tenant_secrets: &'a Arc<TenantSecrets>,
}

/// Starts (lazily) every watch the reconciles read from, besides the profiles' own.
pub(crate) fn watch_all(
    scope: Scope<'_>,
    profiles: PackedStore<VirtualMachineProfile>,
    admin_policy: &AdminPolicySource,
) -> Watches {
    let mut w = Wiring::new(&scope);
    let index = Indexes::default();
    w.synced("VirtualMachineProfile", &profiles);
    let (nad_users, policy_users) = (scope.claims.clone(), scope.claims.clone());
    let enactment_users = scope.claims.clone();
    let installed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stores = Stores {
        profiles,
        // Every NAD's metadata: a user's NAD named by nadName triggers its users.
        nads: w.triggering(
            packed(
                w.namespaced(),
                watcher::Config::default(),
                Some(index.nads.clone()),
                trim::metadata_only,
                w.health.clone(),
            ),
            move |nad| {
                let mut targets = by_label(nad.namespace(), nad.labels());
                let qualified =
                    format!("{}/{}", nad.namespace().unwrap_or_default(), nad.name_any());
                targets.extend(nad_users.nad_users(&qualified));
                targets
            },
        ),
        node_policies: w.triggering(
            cached_changes::<NodeNetworkConfigurationPolicy>(
                w.cluster(),
                watcher::Config::default().labels(&format!(
                    "{MANAGED_POLICY_LABEL}={}",
                    node_policy_scope(scope.namespace)
                )),
                None,
                |p| readiness_fingerprint(p.metadata.generation, p.status.as_ref()),
                w.health.clone(),
            ),
            move |policy| policy_users.node_policy_users(&policy.name_any()),
        ),
        enactments: w.triggering(
            cached_changes::<NodeNetworkConfigurationEnactment>(
                w.cluster(),
                watcher::Config::default(),
                Some(index.enactments.clone()),
                |e| readiness_fingerprint(None, e.status.as_ref()),
                w.health.clone(),
            ),
            move |enactment| {
                let policy = enactment.labels().get(ENACTMENT_POLICY_LABEL);
                policy.map_or_else(Vec::new, |p| enactment_users.node_policy_users(p))
            },
        ),
        claims: w.child(Some(index.claims.clone()), strip),
        data_volumes: w.child(Some(index.data_volumes.clone()), trim::data_volume),
        vms: w.child(None, trim::vm),
        vmis: w.labelled_child(None, trim::instance),
        secrets: w.child(Some(index.secrets.clone()), trim::metadata_only),
        storage_classes: w.read_only(w.cluster()),
        // Read before a profile creates children; one over its quota looks again on its own.
        resource_quotas: w.read_only(w.namespaced()),
        // Read when a profile names one; a blocked profile looks again on its own.
        cluster_instancetypes: w.read_only(w.cluster()),
        instancetypes: w.read_only(w.namespaced()),
        cluster_preferences: w.read_only(w.cluster()),
        preferences: w.read_only(w.namespaced()),
        network_policies: w.child(None, trim::metadata_only),
        // Its CRD may never be installed: not waited for.
        multi_network_policies: w.owned_unsynced(cached_when_installed(
            scope.client.clone(),
            w.namespaced(),
            labelled(),
            installed.clone(),
            w.health.clone(),
        )),
        migrations: w.child(None, strip),
        snapshots: w.labelled_child(Some(index.snapshots.clone()), strip),
        restores: w.child(None, strip),
        // Read when a disk names one; a profile waiting for an image looks again on its own.
        images: w.read_only(w.namespaced()),
        index,
    };
    let admin_policy = w.admin_policy(admin_policy);
    w.user_data_triggers(&scope);
    w.finish(stores, admin_policy, installed)
}

/// The profile a child names in its [`PROFILE_LABEL`] (a VMI, one of our NADs).
fn by_label(
    namespace: Option<String>,
    labels: &BTreeMap<String, String>,
) -> Vec<ObjectRef<VirtualMachineProfile>> {
    labels
        .get(PROFILE_LABEL)
        .zip(namespace)
        .map(|(name, ns)| ObjectRef::new(name).within(&ns))
        .into_iter()
        .collect()
}

/// A cache that can say when it has its first full list.
trait Synced: Clone + Send + 'static {
    fn wait(self) -> BoxFuture<'static, bool>;
}

impl<K: kube::Resource<DynamicType = ()> + Clone + Send + Sync + 'static> Synced for Store<K> {
    fn wait(self) -> BoxFuture<'static, bool> {
        async move { self.wait_until_ready().await.is_ok() }.boxed()
    }
}

impl<K: kube::Resource<DynamicType = ()> + serde::de::DeserializeOwned + Send + Sync + 'static>
    Synced for PackedStore<K>
{
    fn wait(self) -> BoxFuture<'static, bool> {
        async move { self.wait_until_ready().await.is_ok() }.boxed()
    }
}

/// Collects, per cache, what its watch triggers, what keeps it running and its sync.
struct Wiring {
    client: Client,
    namespace: Option<String>,
    health: Arc<WatchHealth>,
    enqueue: Enqueue,
    triggers: Vec<BoxStream<'static, ObjectRef<VirtualMachineProfile>>>,
    read_only: Vec<BoxStream<'static, ()>>,
    synced: Vec<BoxFuture<'static, bool>>,
}

impl Wiring {
    fn new(scope: &Scope<'_>) -> Self {
        Wiring {
            client: scope.client.clone(),
            namespace: scope.namespace.map(str::to_owned),
            health: scope.health.clone(),
            enqueue: scope.enqueue.clone(),
            triggers: Vec::new(),
            read_only: Vec::new(),
            synced: Vec::new(),
        }
    }

    fn synced<S: Synced>(&mut self, name: impl Into<String>, store: &S) {
        let name = name.into();
        let wait = store.clone().wait();
        self.synced.push(
            wait.map(move |ok| {
                tracing::debug!(cache = %name, ok, "watch cache synced");
                ok
            })
            .boxed(),
        );
    }

    /// `K` in the namespace watched (all when none).
    fn namespaced<K>(&self) -> Api<K>
    where
        K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
    {
        api(&self.client, self.namespace.as_deref())
    }

    /// `K`, cluster-wide.
    fn cluster<K: kube::Resource<DynamicType = ()>>(&self) -> Api<K> {
        Api::all(self.client.clone())
    }

    /// A cache whose objects trigger the profiles `targets` names (noted in the work queue).
    /// A failed watch marks the watches down, so that they list again once it is back.
    fn triggering<S: Synced, K: kube::Resource<DynamicType = ()> + Send + 'static>(
        &mut self,
        (store, stream): (
            S,
            impl Stream<Item = Result<K, watcher::Error>> + Send + 'static,
        ),
        targets: impl Fn(&K) -> Vec<ObjectRef<VirtualMachineProfile>> + Send + 'static,
    ) -> S {
        self.synced(K::kind(&()).into_owned(), &store);
        self.push_triggers(stream, targets);
        store
    }

    fn push_triggers<K: Send + 'static>(
        &mut self,
        stream: impl Stream<Item = Result<K, watcher::Error>> + Send + 'static,
        targets: impl Fn(&K) -> Vec<ObjectRef<VirtualMachineProfile>> + Send + 'static,
    ) {
        let (health, enqueue) = (self.health.clone(), self.enqueue.clone());
        let triggers = stream.flat_map(move |object| {
            let targets = match object {
                Ok(object) => targets(&object),
                Err(_) => {
                    health.failed();
                    Vec::new()
                }
            };
            enqueue(&targets);
            futures::stream::iter(targets)
        });
        self.triggers.push(triggers.boxed());
    }

    /// A packed cache of profiles' children (by label, trimmed, indexed if `index`): each
    /// triggers the profile that controls it.
    fn child<K>(&mut self, index: Option<Arc<LabelIndex>>, trim: fn(&mut K)) -> PackedStore<K>
    where
        K: Cacheable
            + serde::Serialize
            + kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    {
        self.child_triggering(index, trim, controlling_profiles)
    }

    /// Like [`Wiring::child`], for children with no owner reference of the profile (a VM's
    /// instance, snapshots): each triggers the profile its [`PROFILE_LABEL`] names.
    fn labelled_child<K>(
        &mut self,
        index: Option<Arc<LabelIndex>>,
        trim: fn(&mut K),
    ) -> PackedStore<K>
    where
        K: Cacheable
            + serde::Serialize
            + kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    {
        self.child_triggering(index, trim, |child: &K| {
            by_label(child.namespace(), child.labels())
        })
    }

    /// A packed cache of children whose objects trigger the profiles `targets` names.
    fn child_triggering<K>(
        &mut self,
        index: Option<Arc<LabelIndex>>,
        trim: fn(&mut K),
        targets: impl Fn(&K) -> Vec<ObjectRef<VirtualMachineProfile>> + Send + 'static,
    ) -> PackedStore<K>
    where
        K: Cacheable
            + serde::Serialize
            + kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    {
        let cache = packed(
            self.namespaced(),
            labelled(),
            index,
            trim,
            self.health.clone(),
        );
        self.triggering(cache, targets)
    }

    /// Like [`Wiring::owned`], for a cache that is not waited for.
    fn owned_unsynced<S, K: kube::Resource + Send + 'static>(
        &mut self,
        (store, stream): (
            S,
            impl Stream<Item = Result<K, watcher::Error>> + Send + 'static,
        ),
    ) -> S {
        self.push_triggers(stream, controlling_profiles);
        store
    }

    /// A cache of every `K` of `api` that is read and triggers nothing (storage classes,
    /// sizing).
    fn read_only<K: Cacheable>(&mut self, api: Api<K>) -> Store<K> {
        self.read_only_where(api, watcher::Config::default())
    }

    /// Like [`Wiring::read_only`], of the objects `config` selects.
    fn read_only_where<K: Cacheable>(&mut self, api: Api<K>, config: watcher::Config) -> Store<K> {
        let (store, stream) = cached(api, config, None, self.health.clone());
        self.synced(K::kind(&()).into_owned(), &store);
        self.read_only.push(stream.map(|_| ()).boxed());
        store
    }

    /// The administrator's policy: given, or from a cache of its one ConfigMap.
    fn admin_policy(&mut self, source: &AdminPolicySource) -> AdminPolicyHandle {
        match source {
            AdminPolicySource::Fixed(policy) => AdminPolicyHandle::Fixed(Arc::new(policy.clone())),
            AdminPolicySource::ConfigMap { namespace, name } => AdminPolicyHandle::ConfigMap {
                store: self.read_only_where(
                    Api::<ConfigMap>::namespaced(self.client.clone(), namespace),
                    watcher::Config::default().fields(&format!("metadata.name={name}")),
                ),
                namespace: namespace.clone(),
                name: name.clone(),
            },
        }
    }

    /// Every Secret's metadata, of which only those profiles name are kept: an edit of a
    /// user-data Secret triggers exactly the profiles naming it.
    fn user_data_triggers(&mut self, scope: &Scope<'_>) {
        let (secrets, health) = (scope.tenant_secrets.clone(), scope.health.clone());
        let triggers = logged(relisting(
            api::<PartialObjectMeta<Secret>>(scope.client, scope.namespace),
            watcher::Config::default(),
            scope.health,
        ))
        .flat_map(move |event| {
            let targets = match event {
                Ok(event) => secrets.observe(&event),
                Err(_) => {
                    health.failed();
                    Vec::new()
                }
            };
            futures::stream::iter(targets)
        });
        self.triggers.push(triggers.boxed());
    }

    fn finish(
        self,
        stores: Stores,
        admin_policy: AdminPolicyHandle,
        multi_network_policies_installed: Arc<std::sync::atomic::AtomicBool>,
    ) -> Watches {
        let synced = future::join_all(self.synced).map(|all| all.into_iter().all(|ok| ok));
        Watches {
            stores,
            admin_policy,
            triggers: futures::stream::select_all(self.triggers).boxed(),
            read_only: futures::stream::select_all(self.read_only)
                .for_each(|()| future::ready(()))
                .boxed(),
            synced: synced.boxed(),
            multi_network_policies_installed,
        }
    }
}
