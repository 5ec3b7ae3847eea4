//! VirtualMachineProfilePools: the members a pool wants (pure) and the pool controller.

pub(crate) mod pool;
pub(crate) mod pool_plan;
