//! Kubernetes resource quantities (`8Gi`, `500m`, `1e3`), parsed to check and compare them.

use thiserror::Error;

/// A quantity string that does not follow the Kubernetes grammar.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("{0:?} is not a Kubernetes quantity")]
pub struct InvalidQuantity(pub String);

/// Parses a quantity into its value in base units (bytes for memory and disks).
///
/// The grammar is Kubernetes': an optional sign, a decimal number and one suffix: binary
/// (`Ki` .. `Ei`), decimal (`m`, `k`, `M` .. `E`) or an exponent (`e3`, `E-2`). The value is
/// an `f64`: exact for every size a VM can have, enough for "is it positive, which is larger".
pub fn parse(quantity: &str) -> Result<f64, InvalidQuantity> {
    let invalid = || InvalidQuantity(quantity.to_owned());
    let number_end = quantity
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || c == '.' || (i == 0 && (c == '+' || c == '-'))))
        .map_or(quantity.len(), |(i, _)| i);
    let (number, suffix) = quantity.split_at(number_end);
    let digits = number.trim_start_matches(['+', '-']);
    if digits.is_empty() || digits == "." || digits.matches('.').count() > 1 {
        return Err(invalid());
    }
    let value: f64 = number.parse().map_err(|_| invalid())?;
    let multiplier = match suffix {
        "" => 1.0,
        "Ki" => 1024f64,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        exponent if exponent.starts_with(['e', 'E']) => {
            let power = &exponent[1..];
            let unsigned = power.trim_start_matches(['+', '-']);
            if unsigned.is_empty()
                || !unsigned.chars().all(|c| c.is_ascii_digit())
                || power.len() - unsigned.len() > 1
            {
                return Err(invalid());
            }
            let power: i32 = power.parse().map_err(|_| invalid())?;
            10f64.powi(power)
        }
        _ => return Err(invalid()),
    };
    Ok(value * multiplier)
}

/// Whether a quantity is well formed and greater than zero.
pub fn is_positive(quantity: &str) -> bool {
    parse(quantity).is_ok_and(|v| v > 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_suffix_kind() {
        assert_eq!(parse("8Gi"), Ok(8.0 * 1024.0 * 1024.0 * 1024.0));
        assert_eq!(parse("1.5Ki"), Ok(1536.0));
        assert_eq!(parse("500m"), Ok(0.5));
        assert_eq!(parse("2k"), Ok(2000.0));
        assert_eq!(parse("1e3"), Ok(1000.0));
        assert_eq!(parse("1E-2"), Ok(0.01));
        assert_eq!(parse("-1"), Ok(-1.0));
        assert_eq!(parse("+.5"), Ok(0.5));
        assert_eq!(parse("80"), Ok(80.0));
    }

    #[test]
    fn rejects_malformed_quantities() {
        for bad in [
            "", "Gi", "8 Gi", "8gi", "8GiB", "1.2.3", "e3", "1e", "1e+-2", "--1", ".",
        ] {
            assert_eq!(parse(bad), Err(InvalidQuantity(bad.to_owned())), "{bad:?}");
        }
    }

    #[test]
    fn positive_means_well_formed_and_above_zero() {
        assert!(is_positive("1Mi"));
        assert!(!is_positive("0"));
        assert!(!is_positive("0Gi"));
        assert!(!is_positive("-1Gi"));
        assert!(!is_positive("lots"));
    }
}
