//! Writer → reader schema resolution, compiled once into a plan that rewrites
//! writer-encoded data into the reader schema's encoding.

pub(crate) mod default;
