//! The names and values the simulated controllers emit, copied from the upstream sources
//! (never from vm-operator's crates: a wrong constant there must not agree with itself here).
//!
//! - KubeVirt v1.9.0, `staging/src/kubevirt.io/api/core/v1/types.go`
//! - CDI v1.66.0, `staging/src/kubevirt.io/containerized-data-importer-api/pkg/apis/core/v1beta1/types.go`
//!   and `pkg/controller/common/util.go`
//! - Kubernetes, `pkg/controller/volume/persistentvolume/util` and the scheduler's volume
//!   binding plugin

/// KubeVirt `VirtualMachineRunStrategy`.
pub mod run_strategy {
    pub const ALWAYS: &str = "Always";
    pub const HALTED: &str = "Halted";
    pub const MANUAL: &str = "Manual";
    pub const RERUN_ON_FAILURE: &str = "RerunOnFailure";
    pub const ONCE: &str = "Once";
}

/// KubeVirt `VirtualMachinePrintableStatus`.
pub mod printable_status {
    pub const STOPPED: &str = "Stopped";
    pub const PROVISIONING: &str = "Provisioning";
    pub const STARTING: &str = "Starting";
    pub const RUNNING: &str = "Running";
    pub const STOPPING: &str = "Stopping";
    pub const ERROR_UNSCHEDULABLE: &str = "ErrorUnschedulable";
    pub const ERROR_PVC_NOT_FOUND: &str = "ErrorPvcNotFound";
    pub const DATA_VOLUME_ERROR: &str = "DataVolumeError";
    pub const WAITING_FOR_VOLUME_BINDING: &str = "WaitingForVolumeBinding";
}

/// KubeVirt `VirtualMachineConditionType`.
/// `VirtualMachineStateChangeRequest.action` (kubevirt.io/api/core/v1 `StopRequest`,
/// `StartRequest`).
pub mod state_change {
    pub const STOP: &str = "Stop";
    pub const START: &str = "Start";
}

/// `VirtualMachineInstanceMigration.status.phase`, in the order a migration goes through them.
pub mod migration_phase {
    pub const PENDING: &str = "Pending";
    pub const SCHEDULING: &str = "Scheduling";
    pub const SCHEDULED: &str = "Scheduled";
    pub const PREPARING_TARGET: &str = "PreparingTarget";
    pub const TARGET_READY: &str = "TargetReady";
    pub const RUNNING: &str = "Running";
    pub const SUCCEEDED: &str = "Succeeded";
    pub const FAILED: &str = "Failed";
}

pub mod vm_condition {
    pub const READY: &str = "Ready";
    pub const POD_SCHEDULED: &str = "PodScheduled";
    pub const RESTART_REQUIRED: &str = "RestartRequired";
}

/// KubeVirt `VirtualMachineInstancePhase`.
pub mod vmi_phase {
    pub const PENDING: &str = "Pending";
    pub const SCHEDULING: &str = "Scheduling";
    pub const SCHEDULED: &str = "Scheduled";
    pub const RUNNING: &str = "Running";
    pub const SUCCEEDED: &str = "Succeeded";
    pub const FAILED: &str = "Failed";
}

/// KubeVirt's `infoSource` values of VMI interfaces.
pub mod info_source {
    pub const DOMAIN: &str = "domain";
    pub const GUEST_AGENT: &str = "guest-agent";
    pub const MULTUS_STATUS: &str = "multus-status";
}

/// CDI `DataVolumePhase`.
pub mod dv_phase {
    pub const PENDING: &str = "Pending";
    pub const PVC_BOUND: &str = "PVCBound";
    pub const WAIT_FOR_FIRST_CONSUMER: &str = "WaitForFirstConsumer";
    pub const IMPORT_SCHEDULED: &str = "ImportScheduled";
    pub const IMPORT_IN_PROGRESS: &str = "ImportInProgress";
    pub const CLONE_SCHEDULED: &str = "CloneScheduled";
    pub const CLONE_IN_PROGRESS: &str = "CloneInProgress";
    pub const PENDING_POPULATION: &str = "PendingPopulation";
    pub const SUCCEEDED: &str = "Succeeded";
    pub const FAILED: &str = "Failed";
}

/// CDI `DataVolumeConditionType`.
pub mod dv_condition {
    pub const READY: &str = "Ready";
    pub const BOUND: &str = "Bound";
    pub const RUNNING: &str = "Running";
}

/// What CDI's DataImportCron controller and its source poller write
/// (`pkg/controller/dataimportcron-controller.go`, `dataimportcron-conditions.go`,
/// `datasource-controller.go`, `pkg/common/common.go`).
pub mod import_cron {
    /// `DataImportCronLabel`: on every DataVolume, claim and DataSource a cron made.
    pub const CRON_LABEL: &str = "cdi.kubevirt.io/dataImportCron";
    /// `DataImportCronCleanupLabel`: deleted with the cron (`retentionPolicy: None`).
    pub const CLEANUP_LABEL: &str = "cdi.kubevirt.io/dataImportCron.cleanup";
    /// `AnnSourceDesiredDigest`: the digest the poller found.
    pub const DESIRED_DIGEST: &str = "cdi.kubevirt.io/storage.import.sourceDesiredDigest";
    /// `AnnLastCronTime`: when the poller last ran.
    pub const LAST_CRON_TIME: &str = "cdi.kubevirt.io/storage.import.lastCronTime";
    /// `AnnLastUseTime`: newest first decides what garbage collection keeps.
    pub const LAST_USE_TIME: &str = "cdi.kubevirt.io/storage.import.lastUseTime";
    /// `AnnImmediateBinding`.
    pub const IMMEDIATE_BINDING: &str = "cdi.kubevirt.io/storage.bind.immediate.requested";
    /// The cron's finalizer (`dataImportCronFinalizer`).
    pub const FINALIZER: &str = "cdi.kubevirt.io/dataImportCronFinalizer";
    /// `defaultImportsToKeepPerCron`.
    pub const DEFAULT_IMPORTS_TO_KEEP: usize = 3;
    /// `digestDvNameSuffixLength`: digest characters in a version's name.
    pub const DIGEST_SUFFIX_LENGTH: usize = 12;
    /// Condition types and reasons.
    pub const PROGRESSING: &str = "Progressing";
    pub const UP_TO_DATE: &str = "UpToDate";
    pub const OUTDATED: &str = "Outdated";
    pub const NO_IMPORT: &str = "NoImport";
    pub const NO_DIGEST: &str = "NoDigest";
    pub const SCHEDULED: &str = "ImportScheduled";
    pub const IN_PROGRESS: &str = "ImportProgressing";
    /// DataSource `Ready` reasons.
    pub const READY: &str = "Ready";
    pub const NO_SOURCE: &str = "NoSource";
    pub const NOT_FOUND: &str = "NotFound";
}

/// Annotations CDI puts on the claims it makes (`pkg/controller/common/util.go`).
pub mod cdi_annotation {
    /// `AnnPodRestarts`: restarts of the importer pod.
    pub const POD_RESTARTS: &str = "cdi.kubevirt.io/storage.pod.restarts";
    /// `AnnCreatedForDataVolume`: the UID of the DataVolume the claim was made for.
    pub const CREATED_FOR_DATA_VOLUME: &str = "cdi.kubevirt.io/createdForDataVolume";
    /// `AnnSource`: `http`, `s3` or `registry` (`SourceHTTP`, `SourceS3`, `SourceRegistry`).
    pub const SOURCE: &str = "cdi.kubevirt.io/storage.import.source";
    /// `AnnEndpoint`: the URL imported.
    pub const ENDPOINT: &str = "cdi.kubevirt.io/storage.import.endpoint";
    /// `AnnSecret`: the Secret the importer pod reads its credentials from.
    pub const SECRET: &str = "cdi.kubevirt.io/storage.import.secretName";
    /// `AnnCertConfigMap`: the ConfigMap mounted as the importer's CA certificates.
    pub const CERT_CONFIG_MAP: &str = "cdi.kubevirt.io/storage.import.certConfigMap";
    /// `AnnRegistryImportMethod`: a registry import's pull method.
    pub const REGISTRY_IMPORT_METHOD: &str = "cdi.kubevirt.io/storage.import.registryImportMethod";
    /// The keys the importer pod's environment reads from that Secret (`KeyAccess`,
    /// `KeySecret` in `pkg/common`).
    pub const CREDENTIAL_KEYS: [&str; 2] = ["accessKeyId", "secretKey"];
}

/// Set by the scheduler on a WaitForFirstConsumer claim once a pod using it has a node.
pub const SELECTED_NODE_ANNOTATION: &str = "volume.kubernetes.io/selected-node";
/// Set by the PV controller on a claim that an external provisioner must serve.
pub const STORAGE_PROVISIONER_ANNOTATION: &str = "volume.kubernetes.io/storage-provisioner";

/// kubernetes-nmstate v0.86.0, `api/shared/nodenetworkconfiguration{policy,enactment}_types.go`.
pub mod nmstate {
    /// Label on an enactment naming its policy (`EnactmentPolicyLabel`).
    pub const ENACTMENT_POLICY_LABEL: &str = "nmstate.io/policy";
    /// Label on an enactment naming its node (`EnactmentNodeLabel`).
    pub const ENACTMENT_NODE_LABEL: &str = "nmstate.io/node";

    /// Condition types of policies and enactments.
    pub mod condition {
        pub const AVAILABLE: &str = "Available";
        pub const DEGRADED: &str = "Degraded";
        pub const PROGRESSING: &str = "Progressing";
        pub const IGNORED: &str = "Ignored";
        pub const FAILING: &str = "Failing";
    }

    /// Condition reasons.
    pub mod reason {
        pub const SUCCESSFULLY_CONFIGURED: &str = "SuccessfullyConfigured";
        pub const FAILED_TO_CONFIGURE: &str = "FailedToConfigure";
        pub const CONFIGURATION_PROGRESSING: &str = "ConfigurationProgressing";
        pub const NO_MATCHING_NODE: &str = "NoMatchingNode";
    }
}

/// Instancetype and preference kinds (kubevirt.io/api/instancetype), and the sync error
/// reasons of pkg/instancetype/controller/vm when one does not exist.
pub mod instancetype {
    pub const CLUSTER_INSTANCETYPE: &str = "VirtualMachineClusterInstancetype";
    pub const INSTANCETYPE: &str = "VirtualMachineInstancetype";
    pub const CLUSTER_PREFERENCE: &str = "VirtualMachineClusterPreference";
    pub const PREFERENCE: &str = "VirtualMachinePreference";
    pub const FAILED_FIND_INSTANCETYPE: &str = "FailedFindInstancetype";
    pub const FAILED_FIND_PREFERENCE: &str = "FailedFindPreference";
}

/// KubeVirt's snapshot and restore controllers (`pkg/storage/snapshot/snapshot.go`,
/// `restore.go`, `util.go`; `kubevirt.io/api/snapshot/v1beta1/types.go`) and CDI's
/// pre-population annotations (`pkg/controller/common/util.go`).
pub mod snapshot {
    pub const SNAPSHOT_FINALIZER: &str = "snapshot.kubevirt.io/vmsnapshot-protection";
    pub const CONTENT_FINALIZER: &str = "snapshot.kubevirt.io/vmsnapshotcontent-protection";
    pub const RESTORE_FINALIZER: &str = "snapshot.kubevirt.io/vmrestore-protection";
    pub const IN_PROGRESS: &str = "InProgress";
    pub const SUCCEEDED: &str = "Succeeded";
    pub const FAILED: &str = "Failed";
    pub const CONDITION_READY: &str = "Ready";
    pub const CONDITION_PROGRESSING: &str = "Progressing";
    pub const CONDITION_FAILURE: &str = "Failure";
    pub const ONLINE_INDICATION: &str = "Online";
    pub const NO_GUEST_AGENT_INDICATION: &str = "NoGuestAgent";
    pub const DEFAULT_SNAPSHOT_CLASS_ANNOTATION: &str =
        "snapshot.storage.kubernetes.io/is-default-class";
    pub const RESTORE_NAME_ANNOTATION: &str = "restore.kubevirt.io/name";
    pub const LAST_RESTORE_ANNOTATION: &str = "restore.kubevirt.io/lastRestoreUID";
    pub const RESTORE_SOURCE_NAME_LABEL: &str = "restore.kubevirt.io/source-vm-name";
    pub const RESTORE_SOURCE_NAMESPACE_LABEL: &str = "restore.kubevirt.io/source-vm-namespace";
    pub const POPULATED_FOR_ANNOTATION: &str = "cdi.kubevirt.io/storage.populatedFor";
    pub const PRE_POPULATED_ANNOTATION: &str = "cdi.kubevirt.io/storage.prePopulated";
    pub const CONTENT_TYPE_ANNOTATION: &str = "cdi.kubevirt.io/storage.contentType";
    /// Annotation prefixes a restored claim does not inherit (`restoreAnnotationsToDelete`).
    pub const RESTORE_ANNOTATIONS_TO_DELETE: [&str; 6] = [
        "pv.kubernetes.io",
        "volume.beta.kubernetes.io",
        "cdi.kubevirt.io",
        "volume.kubernetes.io",
        "k8s.io/CloneRequest",
        "k8s.io/CloneOf",
    ];
    /// `targetReadinessPolicy` values; the default is `WaitGracePeriod`.
    pub const STOP_TARGET: &str = "StopTarget";
    pub const FAIL_IMMEDIATE: &str = "FailImmediate";
    pub const WAIT_EVENTUALLY: &str = "WaitEventually";
    pub const IN_PLACE: &str = "InPlace";
    pub const OWNERSHIP_NONE: &str = "None";
    pub const STOP_TARGET_MESSAGE: &str =
        "Automatically stopping restore target for restore operation";
    pub const WAIT_GRACE_PERIOD_MESSAGE: &str = "Waiting for target VM to be powered off. Please stop the restore target to proceed with restore, or the operation will fail after 5m0s";
    pub const GRACE_PERIOD_EXCEEDED: &str = "Restore target failed to be ready within 5m0s. Please power off the target VM before attempting restore";
    pub const TARGET_NOT_READY_FAILURE: &str =
        "Restore target VMI must be powered off before restore operation";
    /// `snapshotv1.DefaultGracePeriod`.
    pub const DEFAULT_GRACE_PERIOD_SECONDS: i64 = 300;
    pub const DEFAULT_RESTORE_PREFIX: &str = "restore";
}
