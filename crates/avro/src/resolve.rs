//! Writer → reader schema resolution, compiled once into a plan that decoding follows.
