//! Every `reason` vm-operator writes in a condition of a profile or pool, and on its Events:
//! one list, so that what users match on (`kubectl wait`, alerts, scripts) is spelled once.
//! The condition types are [`crate::status::ConditionType`].

/// Something the spec alone decides is wrong (the message names the field).
pub const INVALID_SPEC: &str = "InvalidSpec";
/// The administrator's policy does not allow what the profile asks for.
pub const NOT_ALLOWED: &str = "NotAllowed";
/// A child's name is taken by an object the profile does not own, or the profile asks for an
/// address, MAC or node interface another profile holds.
pub const CONFLICT: &str = "Conflict";
/// The API server refused a child for good (422, 400, 403); the message is its own.
pub const APPLY_REJECTED: &str = "ApplyRejected";
/// The VM waits for its networks and disks.
pub const WAITING_FOR_DEPENDENCIES: &str = "WaitingForDependencies";
/// A disk waits for its first consumer (a `WaitForFirstConsumer` class).
pub const WAITING_FOR_FIRST_CONSUMER: &str = "WaitingForFirstConsumer";
/// StorageReady of a stopped VM whose disks wait for their first consumer: the VM is that
/// consumer, and they bind when it first starts. Stopped is converged: Ready is True.
pub const WAITING_FOR_FIRST_START: &str = "WaitingForFirstStart";
/// The image import of a disk failed.
pub const IMPORT_FAILED: &str = "ImportFailed";
/// A disk's claim that held data is gone; it is not created again blank.
pub const DISK_LOST: &str = "DiskLost";
/// A change to an existing disk that cannot be made (shrinking, another class, ...).
pub const DISK_CHANGE_REFUSED: &str = "DiskChangeRefused";
/// The StorageClass a disk names does not exist.
pub const STORAGE_CLASS_NOT_FOUND: &str = "StorageClassNotFound";
/// The VirtualMachineImage a disk's `imageRef` names does not exist.
pub const IMAGE_NOT_FOUND: &str = "ImageNotFound";
/// The VirtualMachineImage a disk's `imageRef` names has no version to clone yet.
pub const IMAGE_NOT_READY: &str = "ImageNotReady";
/// The instancetype a profile names does not exist.
pub const INSTANCETYPE_NOT_FOUND: &str = "InstancetypeNotFound";
/// The preference a profile names does not exist.
pub const PREFERENCE_NOT_FOUND: &str = "PreferenceNotFound";
/// The Secret `spec.cloudInit.userDataSecretRef` names does not exist.
pub const USER_DATA_SECRET_NOT_FOUND: &str = "UserDataSecretNotFound";
/// That Secret has no `userdata` key.
pub const USER_DATA_KEY_MISSING: &str = "UserDataKeyMissing";
/// The Secret a disk's `credentialsSecretRef` names does not exist.
pub const CREDENTIALS_NOT_FOUND: &str = "CredentialsNotFound";
/// That Secret lacks a key CDI reads (`accessKeyId`, `secretKey`) or the label that lets
/// profiles use it (`vmoperator.io/import-credentials: "true"`).
pub const CREDENTIALS_UNUSABLE: &str = "CredentialsUnusable";
/// The change takes effect only after a restart of the VM.
pub const RESTART_REQUIRED: &str = "RestartRequired";
/// The profile's networks are isolated as `spec.isolation` asks.
pub const ISOLATED: &str = "Isolated";
/// The VM waits in line to start, or a disk in line to import: as many as the operator's or
/// the namespace's cap allows are under way (the message gives the place in line).
pub const QUEUED: &str = "Queued";
/// CDI's importer pod cannot pull its image (CDI's `ImagePullFailed`, from the pod's
/// `ErrImagePull`, `ImagePullBackOff` or `InvalidImageName`); the kubelet keeps trying.
pub const IMAGE_PULL_FAILED: &str = "ImagePullFailed";
/// What the profile would create exceeds a ResourceQuota of its namespace (named, with the
/// resource), or the API server's quota admission refused a child; nothing more is created.
pub const QUOTA_EXCEEDED: &str = "QuotaExceeded";
/// Condition type: whether the scheduler placed the VM's pod on a node (from KubeVirt's
/// `PodScheduled`, with the scheduler's reason and message when it could not).
pub const SCHEDULED: &str = "Scheduled";
/// `Scheduled=True`: the VM's pod is on a node.
pub const ON_NODE: &str = "OnNode";
/// A deletion waits for something to go (the message says what).
pub const DELETION_WAITING: &str = "DeletionWaiting";
/// An Event: a child deleted by hand was created again.
pub const RECREATED: &str = "Recreated";
/// A pool's member profile was refused by the API server.
pub const MEMBER_REJECTED: &str = "MemberRejected";
/// A pool's address range cannot be used.
pub const ADDRESS_RANGE_INVALID: &str = "AddressRangeInvalid";
/// A pool's address range has no address left for another member.
pub const ADDRESS_RANGE_EXHAUSTED: &str = "AddressRangeExhausted";
/// Condition type, when the profile asks for snapshots: whether KubeVirt can snapshot every
/// disk (a VolumeSnapshotClass for each disk's StorageClass).
pub const SNAPSHOTS_AVAILABLE: &str = "SnapshotsAvailable";
/// `SnapshotsAvailable=False`: a disk's class has no VolumeSnapshotClass; its snapshots
/// leave that disk out.
pub const SNAPSHOTS_UNAVAILABLE: &str = "SnapshotsUnavailable";
/// `Ready=False` while a restore of the VM from a snapshot is under way.
pub const RESTORING: &str = "Restoring";
