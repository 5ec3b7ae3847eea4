//! Names of derived objects: deterministic, valid DNS-1123 labels of at most 63 characters.

/// Longest name a derived object gets.
pub const MAX_NAME: usize = 63;
/// Length of the hash suffix added when a name is shortened.
const HASH_LEN: usize = 8;

/// FNV-1a, 64 bits: stable across Rust versions and platforms, unlike `DefaultHasher`.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Separator of a profile's name and an entry's in [`child_name`]: entry names never contain
/// it (the CRD refuses them), profile names never end with `-`, so the last `--` of a child's
/// name splits it back into exactly one (profile, entry) pair.
pub const CHILD_SEPARATOR: &str = "--";

/// The name of a profile's child for one entry (a network's NAD, a disk's volume, the
/// cloud-init Secret): `<profile>--<entry>`. Names the CRD admits (a DNS-label profile name
/// of at most 52 characters, entries without `--`, joined within 63) are used as they are,
/// so no two (profile, entry) pairs share a name. Anything else (a caller outside the CRD's
/// rules) goes through [`derived_name`], which stays a valid label.
pub fn child_name(profile: &str, entry: &str) -> String {
    let joined = format!("{profile}{CHILD_SEPARATOR}{entry}");
    let label = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-')
    };
    if joined.len() <= MAX_NAME && label(profile) && label(entry) && !entry.contains("--") {
        joined
    } else {
        derived_name(&[profile, entry])
    }
}

/// Joins `parts` with `-` into a DNS-1123 label: lower-cased, other characters replaced by
/// `-`, runs of `-` collapsed, no leading or trailing `-`. A result longer than 63 characters
/// is cut and suffixed with a hash of the full name, so distinct inputs stay distinct.
pub fn derived_name(parts: &[&str]) -> String {
    let joined = parts.join("-");
    let mut name = String::with_capacity(joined.len());
    for c in joined.chars() {
        let c = c.to_ascii_lowercase();
        let c = if c.is_ascii_lowercase() || c.is_ascii_digit() {
            c
        } else {
            '-'
        };
        if !(c == '-' && (name.is_empty() || name.ends_with('-'))) {
            name.push(c);
        }
    }
    while name.ends_with('-') {
        name.pop();
    }
    if name.is_empty() {
        name.push('x');
    }
    if name.len() <= MAX_NAME && name == joined {
        return name;
    }
    // Changed or cut: a hash of the full input keeps distinct inputs distinct
    // ("a_b" and "a.b" would otherwise both become "a-b").
    let keep = MAX_NAME - 1 - HASH_LEN;
    let mut prefix: String = name.chars().take(keep).collect();
    while prefix.ends_with('-') {
        prefix.pop();
    }
    format!("{prefix}-{:08x}", fnv1a(joined.as_bytes()) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn child_names_keep_profile_and_entry_apart() {
        assert_eq!(child_name("web-vm-01", "data"), "web-vm-01--data");
        // The pairs that `-` alone would have merged.
        assert_ne!(child_name("pc-a", "b-c"), child_name("pc-a-b", "c"));
        assert_eq!(child_name("shop", "lan"), "shop--lan");
    }

    #[test]
    fn short_clean_names_are_kept_as_joined() {
        assert_eq!(derived_name(&["web-vm-01", "mgmt"]), "web-vm-01-mgmt");
    }

    #[test]
    fn long_names_are_cut_with_a_hash_suffix() {
        let name = derived_name(&[&"a".repeat(50), &"b".repeat(30)]);
        assert_eq!(name.len(), 63);
        assert!(name.starts_with(&"a".repeat(50)));
        assert_ne!(name, derived_name(&[&"a".repeat(50), &"c".repeat(30)]));
    }

    #[test]
    fn characters_outside_dns_are_replaced_and_disambiguated() {
        let underscored = derived_name(&["br_mgmt", "eth1"]);
        let dotted = derived_name(&["br.mgmt", "eth1"]);
        assert!(underscored.starts_with("br-mgmt-eth1-"), "{underscored}");
        assert_ne!(underscored, dotted);
    }
}
