//! Requests made with an annotation: restart and migration, and the Events of their steps.

pub(crate) mod apply;
pub(crate) mod migrate;
pub(crate) mod request;
pub(crate) mod restart;
