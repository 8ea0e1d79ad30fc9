//! Schema compatibility: can a reader schema read data written with a writer schema, per the Avro specification's resolution rules. Every incompatibility is reported, each with its path.
