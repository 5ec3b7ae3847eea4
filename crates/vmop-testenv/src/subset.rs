//! "Read back unchanged" for objects the server adds defaults to: every field we set must come
//! back with the same value; fields the server added are fine.
//!
//! The comparison is this crate's own, not the one the controller uses to decide whether to
//! write: a bug there must not agree with itself here.

use serde_json::Value;

/// Field manager of objects created by [`create_unchanged`].
const STRICT_MANAGER: &str = "vmop-testenv-strict";

/// Creates `object` with strict field validation (an unknown or duplicate field is an error,
/// not a warning) and checks that the API server kept every field of it: proves that the
/// kind's schema accepts exactly what a plugin built. Returns the created object.
pub async fn create_unchanged<K>(api: &kube::Api<K>, object: &K) -> Result<K, String>
where
    K: kube::Resource + Clone + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let name = object
        .meta()
        .name
        .clone()
        .ok_or_else(|| "refused: the object has no name".to_owned())?;
    // A server-side apply that creates: the one write verb of kube-rs that carries
    // fieldValidation=Strict.
    let params = kube::api::PatchParams::apply(STRICT_MANAGER).validation_strict();
    let created = api
        .patch(&name, &params, &kube::api::Patch::Apply(object))
        .await
        .map_err(|e| format!("refused: {e}"))?;
    let sent = serde_json::to_value(object).map_err(|e| e.to_string())?;
    let got = serde_json::to_value(&created).map_err(|e| e.to_string())?;
    if let Some(changed) = first_change(&sent, &got) {
        return Err(format!("changed: {changed}"));
    }
    Ok(created)
}

/// The first leaf of `sent` (as a JSON pointer) that `got` does not hold with the same value.
/// Lists compare element by element and must keep their length (a server that drops or adds
/// an entry changed the object); an empty object or list sent must come back.
pub fn first_change(sent: &Value, got: &Value) -> Option<String> {
    let mut leaves = Vec::new();
    leaves_of(sent, String::new(), &mut leaves);
    leaves.into_iter().find_map(|(pointer, value)| {
        let found = got.pointer(&pointer);
        let same = match (value, found) {
            (Value::Array(a), Some(Value::Array(b))) => a.len() == b.len(),
            (Value::Object(_), Some(Value::Object(_))) => true,
            (value, Some(found)) => value == found,
            (_, None) => false,
        };
        (!same).then(|| match found {
            None => format!("{pointer}: sent {value}, missing"),
            Some(found) => format!("{pointer}: sent {value}, got {found}"),
        })
    })
}

/// Every leaf of `value` with its JSON pointer, and every list and object (so that their
/// lengths and presence are checked too).
fn leaves_of<'a>(value: &'a Value, pointer: String, out: &mut Vec<(String, &'a Value)>) {
    match value {
        Value::Object(map) => {
            out.push((pointer.clone(), value));
            for (key, child) in map {
                let key = key.replace('~', "~0").replace('/', "~1");
                leaves_of(child, format!("{pointer}/{key}"), out);
            }
        }
        Value::Array(items) => {
            out.push((pointer.clone(), value));
            for (i, child) in items.iter().enumerate() {
                leaves_of(child, format!("{pointer}/{i}"), out);
            }
        }
        leaf => out.push((pointer, leaf)),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::first_change;

    #[test]
    fn added_fields_are_fine_and_every_change_of_a_sent_one_is_named() {
        let sent = json!({"spec": {"a": 1, "list": [{"x": "y"}], "empty": {}}, "k/e~y": true});
        let defaulted = json!({"spec": {"a": 1, "b": 2, "list": [{"x": "y", "z": 0}], "empty": {}}, "k/e~y": true});
        assert_eq!(first_change(&sent, &defaulted), None);
        let cases = [
            (
                json!({"spec": {"a": 2, "list": [{"x": "y"}], "empty": {}}, "k/e~y": true}),
                "/spec/a",
            ),
            (
                json!({"spec": {"a": 1, "list": [{"x": "y"}, {}], "empty": {}}, "k/e~y": true}),
                "/spec/list",
            ),
            (
                json!({"spec": {"a": 1, "list": [{"x": "y"}]}, "k/e~y": true}),
                "/spec/empty",
            ),
            (
                json!({"spec": {"a": 1, "list": [{"x": "y"}], "empty": {}}}),
                "/k~1e~0y",
            ),
        ];
        for (got, pointer) in cases {
            let change = first_change(&sent, &got).expect("a change");
            assert!(change.starts_with(&format!("{pointer}:")), "{change}");
        }
    }
}
