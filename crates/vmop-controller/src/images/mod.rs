//! VirtualMachineImages, the image catalog: the CDI objects an image wants (pure), its
//! status from what CDI reports (pure), and the image controller.

pub(crate) mod image;
pub(crate) mod image_plan;
pub(crate) mod image_status;
