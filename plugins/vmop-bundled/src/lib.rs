//! The plugins vm-operator ships, in one list. The binary and the tests that run "the bundled
//! plugins" call [`link`], so that adding a bundled plugin is one line here.

#![deny(missing_docs)]

/// Names every bundled plugin crate, so the linker keeps their `inventory` registrations;
/// returns their crate names.
pub fn link() -> [&'static str; 6] {
    [
        vmop_net_bridge::link(),
        vmop_net_sriov::link(),
        vmop_storage_huamei::link(),
        vmop_storage_cdi::link(),
        vmop_storage_pvc::link(),
        vmop_template_cloudinit::link(),
    ]
}
