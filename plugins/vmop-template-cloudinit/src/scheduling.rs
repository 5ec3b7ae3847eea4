//! Where the VM may run: node affinity from its networks' node selectors, and for high
//! availability a soft anti-affinity between members of one HA group.

use std::collections::BTreeMap;

use vmop_plugin::{
    PluginError, TemplateInput,
    vmop_api::{
        HA_GROUP_LABEL,
        k8s_openapi::{
            api::core::v1::{
                Affinity, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm,
                PodAffinityTerm, PodAntiAffinity, WeightedPodAffinityTerm,
            },
            apimachinery::pkg::apis::meta::v1::LabelSelector,
        },
    },
};

/// The labels every node must have: the union of the networks' node selectors. Two networks
/// asking for different values of one label can never be satisfied: an error.
pub fn node_affinity(input: &TemplateInput) -> Result<BTreeMap<String, String>, PluginError> {
    let mut required: BTreeMap<String, (String, usize)> = BTreeMap::new();
    for attachment in &input.networks {
        let index = input
            .profile
            .spec
            .networks
            .iter()
            .position(|n| n.name == attachment.name)
            .unwrap_or_default();
        for (key, value) in attachment.node_selector.iter().flatten() {
            match required.get(key) {
                Some((existing, other)) if existing != value => {
                    return Err(PluginError::invalid(
                        format!("spec.networks[{index}].nodeSelector"),
                        format!(
                            "asks for {key}={value} but spec.networks[{other}].nodeSelector asks for {key}={existing}: no node can have both"
                        ),
                    ));
                }
                _ => {
                    required.insert(key.clone(), (value.clone(), index));
                }
            }
        }
    }
    Ok(required.into_iter().map(|(k, (v, _))| (k, v)).collect())
}

/// The VM's affinity, or none when it may run anywhere.
pub fn affinity(input: &TemplateInput) -> Result<Option<Affinity>, PluginError> {
    let required = node_affinity(input)?;
    let node_affinity = (!required.is_empty()).then(|| NodeAffinity {
        required_during_scheduling_ignored_during_execution: Some(NodeSelector {
            node_selector_terms: vec![NodeSelectorTerm {
                match_expressions: Some(
                    required
                        .into_iter()
                        .map(|(key, value)| NodeSelectorRequirement {
                            key,
                            operator: "In".into(),
                            values: Some(vec![value]),
                        })
                        .collect(),
                ),
                ..NodeSelectorTerm::default()
            }],
        }),
        ..NodeAffinity::default()
    });
    let profile = &input.profile;
    let group = profile
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(HA_GROUP_LABEL))
        .filter(|_| profile.spec.high_availability);
    let pod_anti_affinity = group.map(|group| PodAntiAffinity {
        preferred_during_scheduling_ignored_during_execution: Some(vec![WeightedPodAffinityTerm {
            weight: 100,
            pod_affinity_term: PodAffinityTerm {
                label_selector: Some(LabelSelector {
                    match_labels: Some(BTreeMap::from([(
                        HA_GROUP_LABEL.to_owned(),
                        group.clone(),
                    )])),
                    ..LabelSelector::default()
                }),
                topology_key: "kubernetes.io/hostname".into(),
                ..PodAffinityTerm::default()
            },
        }]),
        ..PodAntiAffinity::default()
    });
    if node_affinity.is_none() && pod_anti_affinity.is_none() {
        return Ok(None);
    }
    Ok(Some(Affinity {
        node_affinity,
        pod_anti_affinity,
        ..Affinity::default()
    }))
}
