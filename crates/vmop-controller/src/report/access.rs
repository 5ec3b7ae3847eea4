//! Access hints in status: the commands that reach a VM, so `kubectl describe vmprofile`
//! reads like a short runbook.

use kube::ResourceExt;
use vmop_api::{Access, VirtualMachineProfile};

/// The console and SSH commands for `profile`, whose primary address is `primary_ip`.
pub fn access(profile: &VirtualMachineProfile, primary_ip: Option<&str>) -> Access {
    let name = profile.name_any();
    let namespace = profile.namespace().unwrap_or_default();
    let keys = profile
        .spec
        .cloud_init
        .as_ref()
        .is_some_and(|c| !c.ssh_authorized_keys.is_empty());
    Access {
        console: format!("virtctl console {name} -n {namespace}"),
        ssh: keys.then(|| format!("virtctl ssh -n {namespace} <user>@vm/{name}")),
        ssh_direct: keys
            .then_some(primary_ip)
            .flatten()
            .map(|ip| format!("ssh <user>@{ip}")),
    }
}

#[cfg(test)]
mod tests {
    use vmop_api::fixtures::valid_profile;

    use super::*;

    #[test]
    fn the_commands_name_the_vm_and_its_namespace() {
        let mut profile = valid_profile("web-vm-01");
        profile.metadata.namespace = Some("team-a".into());
        let hints = access(&profile, Some("192.168.100.10"));
        assert_eq!(hints.console, "virtctl console web-vm-01 -n team-a");
        assert_eq!(
            hints.ssh.as_deref(),
            Some("virtctl ssh -n team-a <user>@vm/web-vm-01")
        );
        assert_eq!(
            hints.ssh_direct.as_deref(),
            Some("ssh <user>@192.168.100.10")
        );
        profile.spec.cloud_init = None;
        let hints = access(&profile, Some("192.168.100.10"));
        assert_eq!(
            (hints.ssh, hints.ssh_direct),
            (None, None),
            "no keys, no SSH hint"
        );
    }
}
