//! Address ranges of a pool: `192.168.100.10-192.168.100.60/24` (first and last address, and
//! the prefix length every address gets) or a CIDR `10.0.0.0/24` (every host address: not
//! the network or broadcast address), minus listed exclusions. IPv4. Ordinal `n` gets the
//! `n`-th address left, so an ordinal keeps its address for as long as the range is the same.

use std::net::Ipv4Addr;

/// A parsed range: addresses in order, and the prefix length they carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressRange {
    first: u32,
    last: u32,
    prefix: u8,
    excluded: Vec<u32>,
}

/// Why a range does not parse, in words for a condition or an admission error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RangeError(String);

fn ipv4(text: &str) -> Result<u32, RangeError> {
    text.trim()
        .parse::<Ipv4Addr>()
        .map(u32::from)
        .map_err(|_| RangeError(format!("{text:?} is not an IPv4 address")))
}

impl AddressRange {
    /// Parses `range` and the addresses in `exclude`.
    pub fn parse(range: &str, exclude: &[String]) -> Result<Self, RangeError> {
        let (addresses, prefix) = range
            .split_once('/')
            .ok_or_else(|| RangeError(format!("{range:?} has no /prefix length")))?;
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| (1..=32).contains(p))
            .ok_or_else(|| RangeError(format!("{range:?}: the prefix length must be 1-32")))?;
        let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
        let (first, last) = match addresses.split_once('-') {
            Some((first, last)) => (ipv4(first)?, ipv4(last)?),
            None => {
                let network = ipv4(addresses)?;
                if network & !mask != 0 {
                    return Err(RangeError(format!(
                        "{range:?} is not a network address (host bits set)"
                    )));
                }
                let broadcast = network | !mask;
                if prefix >= 31 {
                    (network, broadcast)
                } else {
                    (network + 1, broadcast - 1)
                }
            }
        };
        if first > last {
            return Err(RangeError(format!(
                "{range:?}: the first address is after the last"
            )));
        }
        if first & mask != last & mask {
            return Err(RangeError(format!(
                "{range:?}: the first and last addresses are not in one /{prefix} network"
            )));
        }
        let mut excluded = exclude
            .iter()
            .map(|e| ipv4(e))
            .collect::<Result<Vec<_>, _>>()?;
        excluded.sort_unstable();
        excluded.dedup();
        Ok(AddressRange {
            first,
            last,
            prefix,
            excluded,
        })
    }

    /// How many addresses the range gives.
    pub fn len(&self) -> u64 {
        let all = u64::from(self.last - self.first) + 1;
        let excluded = self
            .excluded
            .iter()
            .filter(|e| (self.first..=self.last).contains(e))
            .count() as u64;
        all - excluded
    }

    /// Whether the range gives no address.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `n`-th address (from 0) as `address/prefix`, if the range has that many.
    pub fn nth(&self, n: u64) -> Option<String> {
        // Walk past exclusions at or below the candidate, in order.
        let mut candidate = u64::from(self.first) + n;
        for excluded in self
            .excluded
            .iter()
            .filter(|e| (self.first..=self.last).contains(e))
        {
            if u64::from(*excluded) <= candidate {
                candidate += 1;
            }
        }
        let address = u32::try_from(candidate).ok().filter(|a| *a <= self.last)?;
        Some(format!("{}/{}", Ipv4Addr::from(address), self.prefix))
    }

    /// Whether the two ranges share an address (exclusions aside).
    pub fn overlaps(&self, other: &AddressRange) -> bool {
        self.first <= other.last && other.first <= self.last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dashed_range_gives_its_addresses_in_order_with_the_prefix() {
        let range = AddressRange::parse("192.168.100.10-192.168.100.12/24", &[]).expect("range");
        assert_eq!(range.len(), 3);
        assert_eq!(range.nth(0).as_deref(), Some("192.168.100.10/24"));
        assert_eq!(range.nth(2).as_deref(), Some("192.168.100.12/24"));
        assert_eq!(range.nth(3), None);
    }

    #[test]
    fn a_cidr_gives_its_host_addresses_minus_exclusions() {
        let excluded = vec!["10.0.0.1".to_owned(), "10.0.0.3".to_owned()];
        let range = AddressRange::parse("10.0.0.0/29", &excluded).expect("range");
        // .1-.6 are hosts; .1 and .3 excluded.
        assert_eq!(range.len(), 4);
        let all: Vec<String> = (0..4).filter_map(|n| range.nth(n)).collect();
        assert_eq!(
            all,
            ["10.0.0.2/29", "10.0.0.4/29", "10.0.0.5/29", "10.0.0.6/29"]
        );
        assert_eq!(range.nth(4), None);
    }

    #[test]
    fn bad_ranges_say_why() {
        for (bad, why) in [
            ("10.0.0.5", "no /prefix"),
            ("10.0.0.9-10.0.0.5/24", "first address is after"),
            ("10.0.0.1/24", "host bits"),
            ("10.0.0.250-10.0.1.5/24", "not in one /24"),
            ("10.0.0.1-10.0.0.x/24", "not an IPv4"),
            ("10.0.0.1-10.0.0.5/33", "prefix length"),
        ] {
            let error = AddressRange::parse(bad, &[]).expect_err(bad).to_string();
            assert!(error.contains(why), "{bad}: {error}");
        }
    }

    #[test]
    fn overlapping_ranges_are_seen() {
        let a = AddressRange::parse("10.0.0.10-10.0.0.20/24", &[]).expect("a");
        let b = AddressRange::parse("10.0.0.20-10.0.0.30/24", &[]).expect("b");
        let c = AddressRange::parse("10.0.0.21-10.0.0.30/24", &[]).expect("c");
        assert!(a.overlaps(&b));
        assert!(!a.overlaps(&c));
    }
}
