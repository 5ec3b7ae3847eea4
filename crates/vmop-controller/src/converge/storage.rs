//! StorageManager: applies each disk's claim or DataVolume, owned by the profile and labelled
//! for the watches whatever the backend set, grows claims where the size grew, refuses what
//! upstream would refuse (see [`disk_changes`](crate::desired::disk_changes)), and reads readiness,
//! phase and import progress from the caches.

use k8s_openapi::{
    api::core::v1::PersistentVolumeClaim, apimachinery::pkg::apis::meta::v1::OwnerReference,
};
use kube::{
    Api, ResourceExt,
    api::{Patch, PatchParams},
    runtime::reflector::ObjectRef,
};
use serde_json::json;
use vmop_api::{
    DiskSpec, PROFILE_LABEL, RetentionPolicy, VirtualMachineProfile, external::cdi::DataVolume,
};
use vmop_plugin::{ObservedVolume, Readiness, VolumeAttachment, VolumeObject, VolumeReadiness};

use crate::{
    context::Context,
    converge::apply::{Applied, ensure, kind_of},
    converge::cleanup::{DISK_LABEL, RETENTION_LABEL},
    desired::admission::{created_at, importing, is_import, order_of_volume},
    desired::claims::ProfileKey,
    desired::disk_changes::{DiskChange, decide},
    desired::plan::PlannedDisk,
    error::Result,
    report::events::child_recreated,
};

/// One disk after the manager's pass.
#[derive(Debug, Clone)]
pub struct DiskOutcome {
    /// The spec disk's name.
    pub name: String,
    /// The backend that served it.
    pub backend: String,
    /// How the VM mounts it.
    pub attachment: VolumeAttachment,
    /// Ready, in progress or failed, with phase and progress.
    pub readiness: VolumeReadiness,
    /// A change of the spec that upstream refuses, and how to get it instead.
    pub refused_change: Option<String>,
    /// The catalog image version the disk was cloned from (`imageRef` disks).
    pub image_version: Option<String>,
}

/// The image version stamped on a disk's planned DataVolume (see
/// [`crate::converge::catalog_images`]).
fn image_version_of(disk: &PlannedDisk) -> Option<String> {
    match &disk.desired.object {
        vmop_plugin::VolumeObject::DataVolume(dv) => dv
            .metadata
            .annotations
            .as_ref()?
            .get(vmop_api::image::IMAGE_VERSION_ANNOTATION)
            .cloned(),
        _ => None,
    }
}

/// The value of a disk's retention label.
fn retention_label(profile: &VirtualMachineProfile, disk: &DiskSpec) -> &'static str {
    match profile.spec.retention_of(disk) {
        RetentionPolicy::Delete => "Delete",
        RetentionPolicy::Retain => "Retain",
    }
}

/// [`stamp_labels`] of `disk` of `profile`, as the manager applies them.
pub(crate) fn stamp_disk_labels(
    meta: &mut kube::core::ObjectMeta,
    profile: &VirtualMachineProfile,
    disk: &DiskSpec,
) {
    let retention = retention_label(profile, disk);
    stamp_labels(meta, &profile.name_any(), &disk.name, retention);
}

/// The labels the managers own on every disk object, whatever the backend built: the
/// watches select on them, cleanup and retention read them.
fn stamp_labels(meta: &mut kube::core::ObjectMeta, profile: &str, disk: &str, retention: &str) {
    let labels = meta.labels.get_or_insert_with(Default::default);
    labels.insert(PROFILE_LABEL.into(), profile.into());
    labels.insert(DISK_LABEL.into(), disk.into());
    labels.insert(RETENTION_LABEL.into(), retention.into());
}

/// Gives a desired DataVolume the size the existing one has: CDI never changes a
/// DataVolume's spec, so its size grows through its claim instead.
fn keep_existing_size(desired: &mut DataVolume, existing: &DataVolume) {
    let existing_resources = existing
        .spec
        .storage
        .as_ref()
        .and_then(|s| s.resources.clone());
    if let Some(storage) = desired.spec.storage.as_mut() {
        storage.resources = existing_resources;
    }
}

/// Reason and phase of a `Retain` disk whose claim is gone after it held data.
pub(crate) use vmop_api::reasons::DISK_LOST;

/// Whether the profile's status says the disk held data (it was ready), or already reported
/// it lost: then a missing claim is missing data, not a disk still to be created.
fn had_data(profile: &VirtualMachineProfile, disk: &str) -> bool {
    profile
        .status
        .iter()
        .flat_map(|s| &s.disks)
        .any(|d| d.name == disk && (d.ready || d.phase.as_deref() == Some(DISK_LOST)))
}

/// The outcome of a disk the manager does not create (now): `readiness` on `volume`, shown
/// with the phase `phase`.
fn not_created(disk: &PlannedDisk, volume: &str, readiness: Readiness, phase: &str) -> DiskOutcome {
    let mut readiness = VolumeReadiness::new(readiness, Some(volume.to_owned()));
    readiness.phase = Some(phase.into());
    DiskOutcome {
        name: disk.config.disk.name.clone(),
        backend: disk.backend_name.clone(),
        attachment: disk.desired.attachment.clone(),
        readiness,
        refused_change: None,
        image_version: image_version_of(disk),
    }
}

/// The outcome of a `Retain` disk whose claim was deleted: not created again (that would be
/// a blank disk in place of kept data), failed with what to do.
fn lost(disk: &PlannedDisk, claim: &str) -> DiskOutcome {
    let failed = Readiness::Failed {
        reason: DISK_LOST.into(),
        message: format!(
            "spec.disks[{}]: the claim {claim} of this Retain disk was deleted after it held data; the operator does not create it again blank. Restore the claim under this name (annotated vmoperator.io/retained-from={}/{}, with adoptRetained: true on the disk), or rename the disk for a new, empty one",
            disk.config.index, disk.config.profile.namespace, disk.config.profile.name
        ),
    };
    not_created(disk, claim, failed, DISK_LOST)
}

/// The outcome of a disk whose import waits in line: nothing created yet.
fn queued(disk: &PlannedDisk, volume: &str, message: String) -> DiskOutcome {
    let waiting = Readiness::InProgress {
        reason: QUEUED.into(),
        message: format!("DataVolume {volume}: {message}"),
    };
    not_created(disk, volume, waiting, QUEUED)
}

use vmop_api::reasons::QUEUED;

/// The place in line, when the disk's DataVolume is an import that may not begin yet
/// because as many imports as the caps allow are running; frees its place once the import
/// is done (or the caps are lifted), and counts one that runs.
/// `import` is the disk's object, its cached DataVolume, and whether its claim exists.
fn import_line(
    ctx: &Context,
    profile: &VirtualMachineProfile,
    import: (&VolumeObject, Option<&DataVolume>, bool),
) -> Option<String> {
    let (object, cached, claim_exists) = import;
    let VolumeObject::DataVolume(desired) = object else {
        return None;
    };
    if !is_import(desired) {
        return None;
    }
    let policy = ctx.admin_policy.current();
    let caps = |namespace: &str| policy.import_cap(namespace);
    let namespace = profile.namespace().unwrap_or_default();
    let name = desired.name_any();
    let key = ProfileKey {
        namespace: namespace.clone(),
        name,
    };
    let owner = profile.name_any();
    if !ctx.imports.limited(caps(&namespace)) {
        ctx.imports.release(&key, &caps);
        return None;
    }
    match cached {
        Some(existing) if importing(existing) => {
            ctx.imports.hold(&key, &owner);
            None
        }
        Some(_) => {
            ctx.imports.release(&key, &caps);
            None
        }
        // Its claim holds the data already: CDI takes it over without an import.
        None if claim_exists => {
            ctx.imports.release(&key, &caps);
            None
        }
        None => {
            let order = order_of_volume(created_at(profile), &key.name);
            let decision = ctx.imports.request_for(&key, &owner, &order, &caps);
            ctx.imports.queued_message(&decision)
        }
    }
}

/// How a disk's claim or DataVolume is applied: owned by the profile, labelled with it, the
/// disk and the retention, and adopting a retained volume only on request.
struct Volume<'a> {
    owner: Option<OwnerReference>,
    /// (profile, disk, retention).
    labels: (&'a str, &'a str, &'a str),
    adopt_from: Option<&'a str>,
}

impl Volume<'_> {
    async fn ensure<K>(
        &self,
        ctx: &Context,
        api: &Api<K>,
        mut object: K,
        cached: Option<&K>,
    ) -> Result<Applied>
    where
        K: kube::Resource<DynamicType = ()>
            + Clone
            + serde::Serialize
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
    {
        let (profile, disk, retention) = self.labels;
        stamp_labels(object.meta_mut(), profile, disk, retention);
        let json = cached.and_then(|c| serde_json::to_value(c).ok());
        let metadata = cached.map(|c| c.meta());
        ensure(
            ctx,
            api,
            object,
            self.owner.clone(),
            metadata,
            json,
            self.adopt_from,
        )
        .await
    }
}

/// Gives back the places in the import line of disks no longer in the spec.
fn forget_removed_imports(ctx: &Context, profile: &VirtualMachineProfile, planned: &[PlannedDisk]) {
    let volumes: Vec<&str> = planned
        .iter()
        .map(|d| d.desired.attachment.source.name())
        .collect();
    let policy = ctx.admin_policy.current();
    ctx.imports
        .retain_profile_items(&ProfileKey::of(profile), &volumes, &|namespace: &str| {
            policy.import_cap(namespace)
        });
}

/// Applies every disk's object and reports readiness, in spec order.
pub async fn reconcile_disks(
    ctx: &Context,
    profile: &VirtualMachineProfile,
    owner: Option<OwnerReference>,
    planned: &[PlannedDisk],
) -> Result<Vec<DiskOutcome>> {
    let namespace = profile.namespace().unwrap_or_default();
    let profile_name = profile.name_any();
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(ctx.client.clone(), &namespace);
    let data_volumes: Api<DataVolume> = Api::namespaced(ctx.client.clone(), &namespace);
    let mut outcomes = Vec::with_capacity(planned.len());
    forget_removed_imports(ctx, profile, planned);
    for disk in planned {
        let retention = retention_label(profile, &disk.config.disk);
        let name = disk.desired.attachment.source.name().to_owned();
        let key = ObjectRef::new(&name).within(&namespace);
        let dv_key = ObjectRef::new(&name).within(&namespace);
        let cached_claim = ctx.stores.claims.get(&key);
        let cached_dv = ctx.stores.data_volumes.get(&dv_key);
        let change = decide(
            &disk.config,
            &disk.desired.object,
            cached_dv.as_deref(),
            cached_claim.as_deref(),
        );
        // A volume retained by a deleted profile of this name is taken over only on request.
        let adopt_from = (disk.config.disk.adopt_retained == Some(true))
            .then(|| format!("{namespace}/{profile_name}"));
        let refused_change = match &change {
            DiskChange::Refuse { message } => Some(message.clone()),
            _ => None,
        };
        let had_data = had_data(profile, &disk.config.disk.name);
        let missing = cached_claim.is_none() && cached_dv.is_none();
        if missing && had_data && retention == "Retain" {
            // Kept data is never replaced by a blank disk without a word: say it is gone.
            outcomes.push(lost(disk, &name));
            continue;
        }
        let import = (
            &disk.desired.object,
            cached_dv.as_deref(),
            cached_claim.is_some(),
        );
        if let Some(message) = import_line(ctx, profile, import) {
            outcomes.push(queued(disk, &name, message));
            continue;
        }
        if refused_change.is_none() {
            let volume = Volume {
                owner: owner.clone(),
                labels: (&profile_name, &disk.config.disk.name, retention),
                adopt_from: adopt_from.as_deref(),
            };
            let (done, kind) = match &disk.desired.object {
                VolumeObject::Claim(claim) => {
                    let object = (**claim).clone();
                    let done = volume.ensure(ctx, &claims, object, cached_claim.as_deref());
                    (done.await?, "PersistentVolumeClaim")
                }
                VolumeObject::DataVolume(dv) => {
                    let mut object = (**dv).clone();
                    if let Some(existing) = &cached_dv {
                        keep_existing_size(&mut object, existing);
                    }
                    let done = volume.ensure(ctx, &data_volumes, object, cached_dv.as_deref());
                    (done.await?, "DataVolume")
                }
            };
            if done == Applied::Created && had_data {
                child_recreated(ctx, profile, kind, &name).await;
            }
        }
        if let DiskChange::ExpandClaim { claim, size } = &change {
            // Only the request: the claim is CDI's, and everything else of it stays CDI's.
            let patch = json!({"spec": {"resources": {"requests": {"storage": size}}}});
            claims
                .patch(claim, &PatchParams::default(), &Patch::Merge(&patch))
                .await?;
            ctx.metrics
                .wrote(kind_of::<PersistentVolumeClaim>(), "expand");
            tracing::info!(claim, size, "expanding the claim of a DataVolume");
        }
        let observed = ObservedVolume {
            claim: ctx.stores.claims.get(&key).map(|c| (*c).clone()),
            data_volume: ctx.stores.data_volumes.get(&dv_key).map(|d| (*d).clone()),
            storage_class: disk.config.storage_class.clone(),
        };
        outcomes.push(DiskOutcome {
            name: disk.config.disk.name.clone(),
            backend: disk.backend_name.clone(),
            attachment: disk.desired.attachment.clone(),
            readiness: disk.backend.readiness(&disk.desired, &observed),
            refused_change,
            image_version: image_version_of(disk),
        });
    }
    Ok(outcomes)
}
