//! Comparing JSON documents: did the server keep what we sent?

use serde_json::Value;

/// `Ok` when every field of `expected` is in `actual` with the same value (recursively; lists
/// compare item by item and must have the same length). The error names the first mismatch.
pub fn check_subset(expected: &Value, actual: &Value) -> Result<(), String> {
    walk(expected, actual, "")
}

fn walk(expected: &Value, actual: &Value, path: &str) -> Result<(), String> {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (key, value) in e {
                let here = format!("{path}.{key}");
                match a.get(key) {
                    Some(found) => walk(value, found, &here)?,
                    None => return Err(format!("{here}: missing, expected {value}")),
                }
            }
            Ok(())
        }
        (Value::Array(e), Value::Array(a)) if e.len() == a.len() => e
            .iter()
            .zip(a)
            .enumerate()
            .try_for_each(|(i, (e, a))| walk(e, a, &format!("{path}[{i}]"))),
        _ if expected == actual => Ok(()),
        _ => Err(format!("{path}: expected {expected}, got {actual}")),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::check_subset;

    #[test]
    fn server_added_fields_are_fine_changed_ones_are_not() {
        let ours = json!({"spec": {"a": 1, "list": [{"x": 1}]}});
        assert_eq!(
            check_subset(
                &ours,
                &json!({"spec": {"a": 1, "b": 2, "list": [{"x": 1, "y": 2}]}})
            ),
            Ok(())
        );
        assert_eq!(
            check_subset(&ours, &json!({"spec": {"a": 2, "list": [{"x": 1}]}})),
            Err(".spec.a: expected 1, got 2".into())
        );
        assert_eq!(
            check_subset(&ours, &json!({"spec": {"a": 1, "list": []}})),
            Err(".spec.list: expected [{\"x\":1}], got []".into())
        );
    }
}
