//! YAML from tenants, parsed with bounds: a size limit, a node budget that counts every node
//! an alias expands to (so a "billion laughs" document stops after the budget, not after the
//! memory is gone), and a nesting limit. Plain serde_yaml expands aliases without a bound.

use std::{cell::Cell, fmt};

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_yaml::{Mapping, Value};

/// How much a document may hold.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Bytes of the document.
    pub max_bytes: usize,
    /// Scalars, sequences and mappings, counting each alias by what it expands to.
    pub max_nodes: usize,
    /// Nesting of sequences and mappings.
    pub max_depth: usize,
}

/// The limits for user data: far above any real cloud-config (cloud providers cap user data
/// at 16 to 64 KiB), far below what hurts the operator.
pub const USER_DATA_LIMITS: Limits = Limits {
    max_bytes: 256 * 1024,
    max_nodes: 20_000,
    max_depth: 32,
};

/// Parses one YAML document within `limits`; the error says which limit was hit.
pub fn parse(text: &str, limits: Limits) -> Result<Value, String> {
    if text.len() > limits.max_bytes {
        return Err(format!(
            "is {} bytes, more than the {} allowed",
            text.len(),
            limits.max_bytes
        ));
    }
    let budget = Cell::new(limits.max_nodes);
    let seed = Bounded {
        budget: &budget,
        depth: limits.max_depth,
        limits,
    };
    seed.deserialize(serde_yaml::Deserializer::from_str(text))
        .map_err(|e| e.to_string())
}

#[derive(Clone, Copy)]
struct Bounded<'a> {
    budget: &'a Cell<usize>,
    depth: usize,
    limits: Limits,
}

impl Bounded<'_> {
    fn spend<E: de::Error>(&self) -> Result<(), E> {
        match self.budget.get().checked_sub(1) {
            Some(left) => {
                self.budget.set(left);
                Ok(())
            }
            None => Err(E::custom(format!(
                "has more than {} nodes (YAML aliases count as what they expand to)",
                self.limits.max_nodes
            ))),
        }
    }

    fn nested<E: de::Error>(&self) -> Result<Self, E> {
        match self.depth.checked_sub(1) {
            Some(depth) => Ok(Bounded { depth, ..*self }),
            None => Err(E::custom(format!(
                "is nested more than {} levels deep",
                self.limits.max_depth
            ))),
        }
    }
}

impl<'de> DeserializeSeed<'de> for Bounded<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Bounded<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a YAML value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        self.spend()?;
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        self.spend()?;
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        self.spend()?;
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        self.spend()?;
        Ok(Value::Number(v.into()))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        self.spend()?;
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        self.spend()?;
        Ok(Value::String(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        self.spend()?;
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        self.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        self.spend()?;
        let inner = self.nested()?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(inner)? {
            items.push(item);
        }
        Ok(Value::Sequence(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        self.spend()?;
        let inner = self.nested()?;
        let mut mapping = Mapping::new();
        while let Some(key) = map.next_key_seed(inner)? {
            let value = map.next_value_seed(inner)?;
            mapping.insert(key, value);
        }
        Ok(Value::Mapping(mapping))
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, _data: A) -> Result<Value, A::Error> {
        Err(de::Error::custom(
            "uses a YAML tag (!tag), which cloud-config does not need",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bomb(levels: usize) -> String {
        let mut text = String::from(
            "#cloud-config\na0: &a0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
        );
        for level in 1..levels {
            let previous = level - 1;
            let refs = vec![format!("*a{previous}"); 9].join(",");
            text.push_str(&format!("a{level}: &a{level} [{refs}]\n"));
        }
        text
    }

    #[test]
    fn an_ordinary_cloud_config_parses_as_plain_serde_yaml_does() {
        let text = "#cloud-config\npackages: [nginx, git]\nusers:\n  - name: ops\n    groups: [wheel]\nruncmd:\n  - [systemctl, enable, --now, nginx]\nbase: &base {a: 1}\nderived: *base\n";
        let bounded = parse(text, USER_DATA_LIMITS).expect("parses");
        let plain: Value = serde_yaml::from_str(text).expect("parses");
        assert_eq!(bounded, plain);
    }

    #[test]
    fn an_alias_bomb_stops_at_the_node_budget() {
        // Nine levels of nine aliases: 9^9 = 387 million strings if expanded.
        let text = bomb(9);
        assert!(text.len() < 1000);
        let error = parse(&text, USER_DATA_LIMITS).expect_err("refused");
        assert!(error.contains("more than 20000 nodes"), "{error}");
    }

    #[test]
    fn size_and_depth_are_bounded() {
        let big = format!("#cloud-config\nx: \"{}\"\n", "a".repeat(300 * 1024));
        assert!(
            parse(&big, USER_DATA_LIMITS)
                .expect_err("too big")
                .contains("bytes")
        );
        let deep = format!("#cloud-config\nx: {}1{}\n", "[".repeat(40), "]".repeat(40));
        let error = parse(&deep, USER_DATA_LIMITS).expect_err("too deep");
        assert!(error.contains("nested more than 32"), "{error}");
    }

    #[test]
    fn tags_are_refused() {
        let error = parse("#cloud-config\nx: !custom 1\n", USER_DATA_LIMITS).expect_err("tag");
        assert!(error.contains("tag"), "{error}");
    }
}
