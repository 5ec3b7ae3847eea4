//! Validate and build: the pure middle of the pipeline. Finds each entry's plugin in the
//! registries, lets it validate, and collects what it wants to exist. No API calls: a profile
//! that fails here creates nothing.

use std::sync::Arc;

use crate::{
    desired::admin_policy::AdminPolicy,
    desired::image_hosts::{host_of, restricted_host},
};
use kube::ResourceExt;
use vmop_api::{
    DiskSpec, VirtualMachineProfile, VirtualMachineProfileSpec,
    profile::DEFAULT_BLANK_BACKEND,
    validate::{validate_profile, validate_semantics},
};
use vmop_plugin::{
    DesiredNetwork, DesiredVolume, DiskConfig, NetworkConfig, NetworkPlugin, ProfileRef,
    Registries, StorageBackend, StorageClassInfo, TemplateInput, VMTemplate,
};

/// One network with its plugin and what the plugin wants.
#[derive(Clone)]
pub struct PlannedNetwork {
    /// The network as the plugin sees it.
    pub config: NetworkConfig,
    /// Name of the plugin (`spec.networks[].type`).
    pub plugin_name: String,
    /// The plugin.
    pub plugin: Arc<dyn NetworkPlugin>,
    /// What the plugin built.
    pub desired: DesiredNetwork,
}

/// One disk with its backend and what the backend wants.
#[derive(Clone)]
pub struct PlannedDisk {
    /// The disk as the backend sees it.
    pub config: DiskConfig,
    /// Name of the backend.
    pub backend_name: String,
    /// The backend.
    pub backend: Arc<dyn StorageBackend>,
    /// What the backend built.
    pub desired: DesiredVolume,
}

/// Everything a valid profile needs, before anything is written.
#[derive(Clone)]
pub struct Plan {
    /// One per spec network, in spec order.
    pub networks: Vec<PlannedNetwork>,
    /// One per spec disk, in spec order.
    pub disks: Vec<PlannedDisk>,
    /// Name of the VM template (`spec.template`).
    pub template_name: String,
    /// The template.
    pub template: Arc<dyn VMTemplate>,
}

/// The outcome of planning: a plan, every reason the spec is invalid ("path: message"), or
/// what the valid spec waits for in the cluster (a StorageClass that does not exist yet).
pub enum Planned {
    /// What to apply.
    Ready(Box<Plan>),
    /// Every reason the spec is invalid, as `path: message`.
    Invalid(Vec<String>),
    /// Nothing is created until these are resolved; `reason` is the condition's reason.
    Blocked {
        /// The condition's reason.
        reason: String,
        /// What is missing, one message each.
        messages: Vec<String>,
    },
}

/// Reason of a profile asking for node networking, another namespace's NAD, a restricted
/// image host or a clone source the administrator's policy does not allow.
pub(crate) use vmop_api::reasons::NOT_ALLOWED;

/// What the plan asks for that the administrator's policy does not allow: node
/// configuration (any network whose plugin builds node policies), a node interface used
/// directly (a third-party plugin such as macvlan that configures nothing on the node still
/// puts the VM on that NIC's network), NADs of other namespaces, images from restricted hosts
/// (loopback, link-local, private, in-cluster), and clones from other namespaces.
fn check_policy(profile: &VirtualMachineProfile, plan: &Plan, policy: &AdminPolicy) -> Vec<String> {
    let namespace = profile.namespace().unwrap_or_default();
    let mut refused: Vec<String> = plan
        .networks
        .iter()
        .filter(|n| !n.desired.policies.is_empty() || n.config.network.node_interface.is_some())
        .filter_map(|n| {
            policy
                .check_node_network(&namespace, n.config.index, &n.config.network)
                .err()
        })
        .collect();
    for network in &plan.networks {
        let attached = &network.desired.attachment.nad;
        let Some((from, _)) = attached.split_once('/') else {
            continue;
        };
        if !policy.allows_network_attachment(&namespace, from) {
            let field = if network.config.network.nad_name.is_some() {
                "nadName"
            } else {
                "type"
            };
            refused.push(format!(
                "spec.networks[{}].{field}: profiles in namespace {namespace} may not attach to NetworkAttachmentDefinition {attached} of namespace {from}; an administrator can allow it in the operator's policy (networkAttachments)",
                network.config.index
            ));
        }
    }
    for (index, disk) in profile.spec.disks.iter().enumerate() {
        let Some(host) = disk.image.as_deref().and_then(host_of) else {
            continue;
        };
        if let Some(why) = restricted_host(host)
            && !policy.allows_image_host(&namespace, host)
        {
            refused.push(format!(
                "spec.disks[{index}].image: host {host} is {why}, which CDI's importer would fetch from inside the cluster; an administrator can allow it in the operator's policy (imageSources)"
            ));
        }
    }
    for (index, disk) in profile.spec.disks.iter().enumerate() {
        let Some(source) = &disk.source else {
            continue;
        };
        for (field, reference) in [("pvc", &source.pvc), ("dataSource", &source.data_source)] {
            let Some(from) = reference.as_ref().and_then(|r| r.namespace.as_deref()) else {
                continue;
            };
            if !policy.allows_clone(&namespace, from) {
                refused.push(format!(
                    "spec.disks[{index}].source.{field}.namespace: profiles in namespace {namespace} may not clone from namespace {from}; an administrator can allow it in the operator's policy (clones)"
                ));
            }
        }
    }
    refused
}

/// Reason of a profile whose disk names a StorageClass that does not exist, or names none
/// where the cluster has no default class.
pub(crate) use vmop_api::reasons::STORAGE_CLASS_NOT_FOUND;

impl std::fmt::Debug for PlannedNetwork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlannedNetwork")
            .field("plugin", &self.plugin_name)
            .field("desired", &self.desired)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for PlannedDisk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlannedDisk")
            .field("backend", &self.backend_name)
            .field("desired", &self.desired)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plan")
            .field("networks", &self.networks)
            .field("disks", &self.disks)
            .field("template", &self.template_name)
            .finish()
    }
}

impl std::fmt::Debug for Planned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Planned::Ready(plan) => f.debug_tuple("Ready").field(plan).finish(),
            Planned::Invalid(errors) => f.debug_tuple("Invalid").field(errors).finish(),
            Planned::Blocked { reason, messages } => f
                .debug_struct("Blocked")
                .field("reason", reason)
                .field("messages", messages)
                .finish(),
        }
    }
}

/// The profile's identity as plugins see it.
pub fn profile_ref(profile: &VirtualMachineProfile) -> ProfileRef {
    ProfileRef {
        name: profile.name_any(),
        namespace: profile.namespace().unwrap_or_default(),
        labels: profile.labels().clone(),
    }
}

fn unknown(kind: &str, path: String, name: &str, registered: &[&str]) -> String {
    format!(
        "{path}: no {kind} is registered as {name:?} (registered: {})",
        registered.join(", ")
    )
}

/// The backend of a disk: the one it names or implies (`cdi` for images and sources), else
/// the one serving its class's provisioner, else the generic [`DEFAULT_BLANK_BACKEND`].
fn choose_backend<'r>(
    disk: &'r DiskSpec,
    class: Option<&StorageClassInfo>,
    registries: &'r Registries,
) -> (String, Option<Arc<dyn StorageBackend>>) {
    if let Some(name) = VirtualMachineProfileSpec::backend_of(disk) {
        return (name.to_owned(), registries.storage.get(name));
    }
    if let Some((name, backend)) =
        class.and_then(|c| registries.storage.for_provisioner(&c.provisioner))
    {
        return (name.to_owned(), Some(backend));
    }
    (
        DEFAULT_BLANK_BACKEND.to_owned(),
        registries.storage.get(DEFAULT_BLANK_BACKEND),
    )
}

/// A network whose plugin validated it, to be built.
type ValidNetwork = (NetworkConfig, String, Arc<dyn NetworkPlugin>);
/// A disk whose backend validated it, to be built.
type ValidDisk = (DiskConfig, String, Arc<dyn StorageBackend>);

/// Validates the profile against the CRD's rules and every plugin's, then builds the desired
/// objects. `classes` looks up a StorageClass by name, or the cluster's default class for
/// `None`.
pub async fn plan(
    profile: &VirtualMachineProfile,
    registries: &Registries,
    classes: impl Fn(Option<&str>) -> Option<StorageClassInfo>,
    template_extras: TemplateExtras,
    policy: &AdminPolicy,
) -> Planned {
    let mut invalid: Vec<String> = [
        validate_profile(&profile.name_any(), &profile.spec),
        validate_semantics(&profile.spec),
    ]
    .into_iter()
    .filter_map(Result::err)
    .flat_map(|errors| errors.0.into_iter().map(|e| e.to_string()))
    .collect();
    if let Err(refused) = crate::desired::isolation::validate(profile) {
        invalid.push(refused);
    }
    let networks = validate_networks(profile, registries, &mut invalid);
    let (disks, missing_classes) = validate_disks(profile, registries, classes, &mut invalid);
    let template_name = profile.spec.template_name().to_owned();
    let template = registries.templates.get(&template_name);
    if template.is_none() {
        invalid.push(unknown(
            "VM template",
            "spec.template".into(),
            &template_name,
            &registries.templates.names(),
        ));
    }
    let Some(template) = template.filter(|_| invalid.is_empty()) else {
        return Planned::Invalid(invalid);
    };
    if !missing_classes.is_empty() {
        return Planned::Blocked {
            reason: STORAGE_CLASS_NOT_FOUND.into(),
            messages: missing_classes,
        };
    }
    let plan = match build(networks, disks, template_name, template).await {
        Ok(plan) => plan,
        Err(invalid) => return Planned::Invalid(invalid),
    };
    let not_allowed = check_policy(profile, &plan, policy);
    if !not_allowed.is_empty() {
        return Planned::Blocked {
            reason: NOT_ALLOWED.into(),
            messages: not_allowed,
        };
    }
    // The template validates here too, with what the networks and disks will attach: a spec
    // it refuses creates nothing.
    if let Err(e) = plan
        .template
        .validate(&template_input(profile, &plan, template_extras))
    {
        return Planned::Invalid(vec![e.to_string()]);
    }
    Planned::Ready(Box::new(plan))
}

/// Each network with its plugin, once the plugin validated it; an unknown type or a
/// refusal is noted in `invalid`.
fn validate_networks(
    profile: &VirtualMachineProfile,
    registries: &Registries,
    invalid: &mut Vec<String>,
) -> Vec<ValidNetwork> {
    let owner = profile_ref(profile);
    let mut networks = Vec::new();
    for (index, network) in profile.spec.networks.iter().enumerate() {
        let name = VirtualMachineProfileSpec::network_type(network);
        let Some(plugin) = registries.networks.get(name) else {
            let path = format!("spec.networks[{index}].type");
            let registered = registries.networks.names();
            invalid.push(unknown("network plugin", path, name, &registered));
            continue;
        };
        let config = NetworkConfig {
            profile: owner.clone(),
            index,
            network: network.clone(),
        };
        match plugin.validate(&config) {
            Ok(()) => networks.push((config, name.to_owned(), plugin)),
            Err(e) => invalid.push(e.to_string()),
        }
    }
    networks
}

/// Each disk with its backend and class, once the backend validated it, and the classes
/// that do not exist (the profile waits for them).
fn validate_disks(
    profile: &VirtualMachineProfile,
    registries: &Registries,
    classes: impl Fn(Option<&str>) -> Option<StorageClassInfo>,
    invalid: &mut Vec<String>,
) -> (Vec<ValidDisk>, Vec<String>) {
    let owner = profile_ref(profile);
    let spec = &profile.spec;
    let mut disks = Vec::new();
    let mut missing_classes = Vec::new();
    for (index, disk) in spec.disks.iter().enumerate() {
        let class = classes(disk.storage_class_name.as_deref());
        if class.is_none() {
            let path = format!("spec.disks[{index}].storageClassName");
            missing_classes.push(match &disk.storage_class_name {
                Some(name) => format!("{path}: StorageClass {name} does not exist"),
                None => format!(
                    "{path}: not set, and the cluster has no default StorageClass (annotation storageclass.kubernetes.io/is-default-class)"
                ),
            });
        }
        let (name, backend) = choose_backend(disk, class.as_ref(), registries);
        let Some(backend) = backend else {
            let path = format!("spec.disks[{index}].backend");
            let registered = registries.storage.names();
            invalid.push(unknown("storage backend", path, &name, &registered));
            continue;
        };
        let config = DiskConfig {
            profile: owner.clone(),
            index,
            disk: disk.clone(),
            high_availability: spec.high_availability,
            storage_class: class,
        };
        match backend.validate(&config) {
            Ok(()) => disks.push((config, name, backend)),
            Err(e) => invalid.push(e.to_string()),
        }
    }
    (disks, missing_classes)
}

/// What each plugin builds, or every error they gave.
async fn build(
    networks: Vec<ValidNetwork>,
    disks: Vec<ValidDisk>,
    template_name: String,
    template: Arc<dyn VMTemplate>,
) -> Result<Plan, Vec<String>> {
    let mut invalid = Vec::new();
    let mut plan = Plan {
        networks: Vec::new(),
        disks: Vec::new(),
        template_name,
        template,
    };
    for (config, plugin_name, plugin) in networks {
        match plugin.build(&config).await {
            Ok(desired) => plan.networks.push(PlannedNetwork {
                config,
                plugin_name,
                plugin,
                desired,
            }),
            Err(e) => invalid.push(e.to_string()),
        }
    }
    for (config, backend_name, backend) in disks {
        match backend.build(&config).await {
            Ok(desired) => plan.disks.push(PlannedDisk {
                config,
                backend_name,
                backend,
                desired,
            }),
            Err(e) => invalid.push(e.to_string()),
        }
    }
    if invalid.is_empty() {
        Ok(plan)
    } else {
        Err(invalid)
    }
}

/// What the template sees: the profile and what its networks and disks attach.
fn template_input(
    profile: &VirtualMachineProfile,
    plan: &Plan,
    extras: TemplateExtras,
) -> TemplateInput {
    TemplateInput {
        profile: profile.clone(),
        networks: plan
            .networks
            .iter()
            .map(|n| n.desired.attachment.clone())
            .collect(),
        volumes: plan
            .disks
            .iter()
            .map(|d| d.desired.attachment.clone())
            .collect(),
        macs: extras.macs,
        user_data: extras.user_data,
    }
}

/// The label value, and name suffix, of the shared policies of an operator watching
/// `namespace` (`None`: all namespaces). Operators of different scopes never share a policy
/// object, since each counts its users only among the profiles it watches.
pub fn node_policy_scope(namespace: Option<&str>) -> String {
    namespace.map_or_else(|| "cluster".to_owned(), |ns| format!("ns-{ns}"))
}

/// Labels the plan's shared policies with the operator's scope and, for a namespaced
/// operator, makes their names its own.
pub fn scope_node_policies(plan: &mut Plan, namespace: Option<&str>) {
    let scope = node_policy_scope(namespace);
    for network in &mut plan.networks {
        for policy in &mut network.desired.policies {
            if namespace.is_some() {
                let name = policy.metadata.name.clone().unwrap_or_default();
                policy.metadata.name = Some(vmop_plugin::names::derived_name(&[&name, &scope]));
            }
            policy.metadata.labels.get_or_insert_default().insert(
                vmop_plugin::objects::MANAGED_POLICY_LABEL.into(),
                scope.clone(),
            );
        }
    }
}

/// What the template's validation needs beyond the spec: the MACs pinned so far and the
/// user's own user data (when readable).
#[derive(Debug, Clone, Default)]
pub struct TemplateExtras {
    /// MACs pinned earlier (status, or the existing VM).
    pub macs: std::collections::BTreeMap<String, String>,
    /// The user's own user data, when the profile names a Secret.
    pub user_data: Option<String>,
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use vmop_api::fixtures::valid_profile;
    use vmop_plugin::{
        MockNetworkPlugin, MockStorageBackend, MockVMTemplate, PluginError, PluginKind, Registries,
    };

    use super::*;

    fn registries(network: MockNetworkPlugin, mut storage: MockStorageBackend) -> Registries {
        storage.expect_provisioners().returning(Vec::new);
        let mut r = Registries::empty();
        let network: Arc<dyn NetworkPlugin> = Arc::new(network);
        r.networks
            .register("bridge", "test", network)
            .expect("bridge");
        let storage: Arc<dyn StorageBackend> = Arc::new(storage);
        let cdi = storage.clone();
        r.storage.register("cdi", "test", cdi).expect("cdi");
        r.storage
            .register("huamei-csi", "test", storage.clone())
            .expect("huamei");
        r.storage.register("pvc", "test", storage).expect("pvc");
        let template: Arc<dyn VMTemplate> = Arc::new(MockVMTemplate::new());
        r.templates
            .register("cloud-init", "test", template)
            .expect("template");
        assert_eq!(r.networks.kind(), PluginKind::Network);
        r
    }

    /// Every class exists and is served by a provisioner no backend claims.
    fn any_class(name: Option<&str>) -> Option<StorageClassInfo> {
        Some(StorageClassInfo {
            name: name.unwrap_or("standard").into(),
            provisioner: "example.com/any".into(),
            ..StorageClassInfo::default()
        })
    }

    fn profile() -> VirtualMachineProfile {
        let mut p = valid_profile("web");
        p.spec.networks.truncate(1);
        p
    }

    #[tokio::test]
    async fn a_plugin_refusal_builds_nothing_and_names_the_field() {
        let mut network = MockNetworkPlugin::new();
        network.expect_validate().returning(|c| {
            Err(PluginError::invalid(
                c.field_path("vlan"),
                "not on this bridge",
            ))
        });
        network.expect_build().never();
        let mut storage = MockStorageBackend::new();
        storage.expect_validate().returning(|_| Ok(()));
        storage.expect_build().never();

        let Planned::Invalid(errors) = plan(
            &profile(),
            &registries(network, storage),
            any_class,
            TemplateExtras::default(),
            &AdminPolicy::allow_all(),
        )
        .await
        else {
            panic!("a refused network must make the plan invalid");
        };
        assert_eq!(
            errors,
            vec!["spec.networks[0].vlan: not on this bridge".to_owned()]
        );
    }

    #[tokio::test]
    async fn an_unknown_plugin_is_reported_with_the_registered_ones() {
        let mut p = profile();
        p.spec.networks[0].type_ = Some("macvlan".into());
        let mut storage = MockStorageBackend::new();
        storage.expect_validate().returning(|_| Ok(()));
        let Planned::Invalid(errors) = plan(
            &p,
            &registries(MockNetworkPlugin::new(), storage),
            any_class,
            TemplateExtras::default(),
            &AdminPolicy::allow_all(),
        )
        .await
        else {
            panic!("unknown plugin");
        };
        assert_eq!(
            errors,
            vec!["spec.networks[0].type: no network plugin is registered as \"macvlan\" (registered: bridge)".to_owned()]
        );
    }

    #[tokio::test]
    async fn a_spec_the_crd_would_refuse_is_refused_before_any_plugin_runs() {
        let mut p = profile();
        p.spec.cpu = Some(0);
        let mut network = MockNetworkPlugin::new();
        network.expect_validate().returning(|_| Ok(()));
        network.expect_build().never();
        let mut storage = MockStorageBackend::new();
        storage.expect_validate().returning(|_| Ok(()));
        storage.expect_build().never();
        let Planned::Invalid(errors) = plan(
            &p,
            &registries(network, storage),
            any_class,
            TemplateExtras::default(),
            &AdminPolicy::allow_all(),
        )
        .await
        else {
            panic!("cpu 0 is invalid");
        };
        assert_eq!(
            errors,
            vec!["spec.cpu: must be between 1 and 256".to_owned()]
        );
    }

    fn accepting_storage(backend_name: &'static str) -> MockStorageBackend {
        let mut storage = MockStorageBackend::new();
        storage.expect_validate().returning(|_| Ok(()));
        storage
            .expect_provisioners()
            .returning(move || vec![format!("{backend_name}.example.com")]);
        storage
    }

    #[tokio::test]
    async fn a_blank_disk_goes_to_the_backend_of_its_provisioner_else_to_pvc() {
        let mut r = Registries::empty();
        for name in ["cdi", "pvc", "zfs"] {
            let backend: Arc<dyn StorageBackend> = Arc::new(accepting_storage(name));
            r.storage.register(name, "test", backend).expect("register");
        }
        let zfs = StorageClassInfo {
            name: "fast".into(),
            provisioner: "zfs.example.com".into(),
            ..StorageClassInfo::default()
        };
        let disk = DiskSpec {
            name: "data".into(),
            size: "1Gi".into(),
            ..DiskSpec::default()
        };
        assert_eq!(choose_backend(&disk, Some(&zfs), &r).0, "zfs");
        let other = StorageClassInfo {
            provisioner: "rancher.io/local-path".into(),
            ..zfs.clone()
        };
        assert_eq!(choose_backend(&disk, Some(&other), &r).0, "pvc");
        let image = DiskSpec {
            image: Some("docker://x/y:1".into()),
            ..disk.clone()
        };
        assert_eq!(choose_backend(&image, Some(&zfs), &r).0, "cdi");
        let named = DiskSpec {
            backend: Some("pvc".into()),
            ..disk
        };
        assert_eq!(choose_backend(&named, Some(&zfs), &r).0, "pvc");
    }

    #[tokio::test]
    async fn a_missing_class_blocks_the_profile_naming_the_class_and_builds_nothing() {
        let mut network = MockNetworkPlugin::new();
        network.expect_validate().returning(|_| Ok(()));
        network.expect_build().never();
        let mut storage = MockStorageBackend::new();
        storage.expect_validate().returning(|_| Ok(()));
        storage.expect_build().never();
        let mut p = profile();
        p.spec.disks[0].storage_class_name = Some("fast-nvme".into());
        p.spec.disks[1].storage_class_name = None;
        let only_named = |name: Option<&str>| {
            name.filter(|n| *n != "fast-nvme")
                .and_then(|n| any_class(Some(n)))
        };
        let Planned::Blocked { reason, messages } = plan(
            &p,
            &registries(network, storage),
            only_named,
            TemplateExtras::default(),
            &AdminPolicy::allow_all(),
        )
        .await
        else {
            panic!("a missing class must block the plan");
        };
        assert_eq!(reason, STORAGE_CLASS_NOT_FOUND);
        assert_eq!(
            messages,
            vec![
                "spec.disks[0].storageClassName: StorageClass fast-nvme does not exist".to_owned(),
                "spec.disks[1].storageClassName: not set, and the cluster has no default StorageClass (annotation storageclass.kubernetes.io/is-default-class)".to_owned(),
            ]
        );
    }
}
