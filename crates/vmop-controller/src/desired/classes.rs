//! StorageClasses as backends see them, from the watch cache: by name, or the cluster's
//! default class for a disk that names none.

use k8s_openapi::api::storage::v1::StorageClass;
use kube::{
    ResourceExt,
    runtime::reflector::{ObjectRef, Store},
};
use vmop_plugin::StorageClassInfo;

/// Annotation that marks the cluster's default StorageClass.
pub const DEFAULT_CLASS_ANNOTATION: &str = "storageclass.kubernetes.io/is-default-class";

/// What backends need to know of a class.
pub fn class_info(class: &StorageClass) -> StorageClassInfo {
    StorageClassInfo {
        name: class.name_any(),
        provisioner: class.provisioner.clone(),
        parameters: class.parameters.clone().unwrap_or_default(),
        wait_for_first_consumer: class.volume_binding_mode.as_deref()
            == Some("WaitForFirstConsumer"),
        allow_volume_expansion: class.allow_volume_expansion == Some(true),
        is_default: is_default(class),
    }
}

fn is_default(class: &StorageClass) -> bool {
    class
        .annotations()
        .get(DEFAULT_CLASS_ANNOTATION)
        .is_some_and(|v| v == "true")
}

/// The class named `name`, or for `None` the default class. With several defaults the API
/// server's DefaultStorageClass admission picks the newest, so this does too (then by name).
pub fn storage_class(store: &Store<StorageClass>, name: Option<&str>) -> Option<StorageClassInfo> {
    match name {
        Some(name) => store.get(&ObjectRef::new(name)).map(|c| class_info(&c)),
        None => store
            .state()
            .iter()
            .filter(|c| is_default(c))
            .max_by(|a, b| {
                (a.creation_timestamp(), b.name_any()).cmp(&(b.creation_timestamp(), a.name_any()))
            })
            .map(|c| class_info(c)),
    }
}
