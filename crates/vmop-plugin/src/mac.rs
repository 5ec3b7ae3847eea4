//! Locally administered unicast MAC addresses, derived deterministically from a seed.

use crate::names::fnv1a;

/// A MAC for `seed` (such as `<namespace>/<profile>/<uid>/<network>`): the first octet has
/// the locally-administered bit set and the multicast bit clear (`x2`, `x6`, `xa`, `xe`), so it
/// never collides with a vendor-assigned address.
pub fn generated_mac(seed: &str) -> String {
    let hash = fnv1a(seed.as_bytes()).to_be_bytes();
    let first = (hash[0] & 0b1111_1100) | 0b0000_0010;
    format!(
        "{first:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        hash[1], hash[2], hash[3], hash[4], hash[5]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_stable_and_locally_administered() {
        let mac = generated_mac("prod/web/uid-1/mgmt");
        assert_eq!(mac, generated_mac("prod/web/uid-1/mgmt"));
        let first = u8::from_str_radix(&mac[..2], 16).expect("hex");
        assert_eq!(first & 0b11, 0b10, "{mac}");
    }
}
