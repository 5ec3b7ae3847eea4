//! What a DataVolume's `sourceRef` clones, as CDI's `getSourceRefOp` and
//! `ResolveDataSourceChain` (v1.66.0) find it: the DataSource, followed through at most one
//! DataSource it points at, to its claim. A DataSource that does not exist, a longer chain, or
//! one pointing at a snapshot (not simulated) leaves the DataVolume as it is, as CDI's
//! `dataVolumeNop` does, until it changes.

use kube::Api;

use super::{SimContext, SimError, kinds::cdi::DataSource};

/// The claim (namespace, name) the DataSource `namespace`/`name` resolves to, if any.
pub(super) async fn resolve(
    ctx: &SimContext,
    namespace: &str,
    name: &str,
) -> Result<Option<(String, String)>, SimError> {
    let Some(first) = get(ctx, namespace, name).await? else {
        return Ok(None);
    };
    let resolved = match &first.spec.source.data_source {
        // CDI resolves one level only ("DataSource reference chain is too long" beyond).
        Some(next) => match get(ctx, &next.namespace, &next.name).await? {
            Some(second) if second.spec.source.data_source.is_none() => second,
            _ => return Ok(None),
        },
        None => first,
    };
    Ok(resolved
        .spec
        .source
        .pvc
        .as_ref()
        .map(|pvc| (pvc.namespace.clone(), pvc.name.clone())))
}

async fn get(
    ctx: &SimContext,
    namespace: &str,
    name: &str,
) -> Result<Option<DataSource>, SimError> {
    let namespace = if namespace.is_empty() {
        "default"
    } else {
        namespace
    };
    Ok(Api::<DataSource>::namespaced(ctx.client.clone(), namespace)
        .get_opt(name)
        .await?)
}
