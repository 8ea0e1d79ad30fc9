//! The registry client, beside the transports and shared by both: the
//! [`SchemaCache`] (schemas by global id, kept for the life of the client since
//! an id never changes meaning) in front of any transport's [`SchemaLookup`],
//! and the [`ValueDecoder`] that turns record values into `T` with a
//! resolution plan per writer schema (the plan cache).

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;

use parking_lot::Mutex;
use runnel_avro::resolve::Plan;
use runnel_avro::{Avro, Reader, Schema};

use crate::error::ClientError;
use crate::framing;
use crate::transport::{SchemaLookup, SubjectVersion};

/// A schema as a version of a subject.
#[derive(Debug, Clone)]
pub struct RegisteredSchema {
    /// The subject.
    pub subject: String,
    /// The schema's global id.
    pub id: u32,
    /// Its version in the subject.
    pub version: i32,
    /// The schema.
    pub schema: Arc<Schema>,
}

/// Schemas by global id. Ids are never reused, so entries never go stale.
#[derive(Debug, Default)]
pub(crate) struct SchemaCache {
    by_id: Mutex<HashMap<u32, Arc<Schema>>>,
}

impl SchemaCache {
    /// The schema with global id `id`, asked of `registry` once, then cached.
    pub(crate) async fn schema_by_id(
        &self,
        registry: &impl SchemaLookup,
        id: u32,
    ) -> Result<Arc<Schema>, ClientError> {
        if let Some(s) = self.by_id.lock().get(&id) {
            return Ok(s.clone());
        }
        let schema = Arc::new(parse(&registry.schema_text(id).await?)?);
        Ok(self.by_id.lock().entry(id).or_insert(schema).clone())
    }

    /// The version of `subject` that is `schema`, if there is one.
    pub(crate) async fn lookup(
        &self,
        registry: &impl SchemaLookup,
        subject: &str,
        schema: &Schema,
    ) -> Result<Option<RegisteredSchema>, ClientError> {
        match registry.lookup(subject, schema).await? {
            Some(v) => Ok(Some(self.registered(v, Some(schema))?)),
            None => Ok(None),
        }
    }

    /// Registers `schema` under `subject` (or finds it there).
    pub(crate) async fn register(
        &self,
        registry: &impl SchemaLookup,
        subject: &str,
        schema: &Schema,
    ) -> Result<RegisteredSchema, ClientError> {
        let v = registry.register(subject, schema).await?;
        self.registered(v, Some(schema))
    }

    /// A registry's answer as a [`RegisteredSchema`], its schema cached by id:
    /// `known` (the schema asked about) when the answer has no text or the same.
    pub(crate) fn registered(
        &self,
        v: SubjectVersion,
        known: Option<&Schema>,
    ) -> Result<RegisteredSchema, ClientError> {
        let cached = self.by_id.lock().get(&v.id).cloned();
        let schema = match cached {
            Some(s) => s,
            None => Arc::new(match known {
                Some(s) if v.schema.is_empty() || s.json() == v.schema => s.clone(),
                _ => parse(&v.schema)?,
            }),
        };
        let schema = self.by_id.lock().entry(v.id).or_insert(schema).clone();
        Ok(RegisteredSchema { subject: v.subject, id: v.id, version: v.version, schema })
    }
}

fn parse(json: &str) -> Result<Schema, ClientError> {
    Schema::parse_str(json).map_err(|e| ClientError::Registry {
        message: format!("the registry returned an invalid schema: {e}"),
    })
}

/// The full name of a schema's type (or the canonical form of an unnamed one), for messages.
pub(crate) fn type_name(schema: &Schema) -> String {
    let canonical = schema.canonical_form();
    serde_json::from_str::<serde_json::Value>(&canonical)
        .ok()
        .and_then(|v| v.get("name").and_then(|n| n.as_str()).map(str::to_owned))
        .unwrap_or(canonical)
}

/// How records of one writer schema become `T`.
enum Decoding {
    /// The writer's schema is `T`'s: decode the body as is.
    Direct,
    /// Transcode through the plan first.
    Resolve(Plan),
    /// The pair cannot be resolved; every record of this writer fails so.
    Unresolvable(String),
}

/// Turns record values (Confluent framing + Avro body) into `T`: the writer
/// schema fetched by id once (through the client's cache), the writer → reader
/// plan made once per writer id. Shared by [`Consumer<T>`](crate::Consumer)
/// and the queue consumer, whatever the transport.
pub(crate) struct ValueDecoder<T, L> {
    schemas: Arc<SchemaCache>,
    registry: L,
    decoders: HashMap<u32, Arc<Decoding>>,
    reader_id: Option<u32>,
    /// Reused buffer for transcoded bodies.
    scratch: Vec<u8>,
    _type: PhantomData<fn() -> T>,
}

impl<T: Avro, L: SchemaLookup> ValueDecoder<T, L> {
    /// A decoder for records of a topic bound to `subject`.
    pub(crate) async fn new(schemas: Arc<SchemaCache>, registry: L, subject: &str) -> Self {
        // The reader's id, when registered, makes resolution errors name both ids.
        let reader_id = schemas.lookup(&registry, subject, T::schema()).await;
        let reader_id = reader_id.ok().flatten().map(|r| r.id);
        ValueDecoder {
            schemas,
            registry,
            decoders: HashMap::new(),
            reader_id,
            scratch: Vec::new(),
            _type: PhantomData,
        }
    }

    /// Decodes one record's value; returns it with its writer schema id.
    pub(crate) async fn decode(
        &mut self,
        partition: u32,
        offset: i64,
        value: &[u8],
    ) -> Result<(T, u32), ClientError> {
        if let Some(decoded) = self.decode_cached(partition, offset, value) {
            return decoded;
        }
        let (schema_id, _) = framing::split(value).ok_or(ClientError::NotFramed { partition, offset })?;
        // Transient failures (the registry unreachable) are not cached.
        let writer = self.schemas.schema_by_id(&self.registry, schema_id).await?;
        let reader = T::schema();
        let decoding = if writer.canonical_str() == reader.canonical_str() {
            Decoding::Direct
        } else {
            match Plan::new(&writer, reader) {
                Ok(plan) if plan.is_identity() => Decoding::Direct,
                Ok(plan) => Decoding::Resolve(plan),
                Err(e) => Decoding::Unresolvable(e.to_string()),
            }
        };
        self.decoders.insert(schema_id, Arc::new(decoding));
        self.decode_cached(partition, offset, value)
            .unwrap_or(Err(ClientError::NotFramed { partition, offset }))
    }

    /// Decodes one record's value into `into`, reusing its allocations, when its
    /// writer schema's plan is cached and the record decodes: the writer schema id.
    /// `None` when it is not cached or the record does not decode (then `decode`
    /// fetches the schema or says why; `into` may hold part of the record).
    pub(crate) fn decode_cached_into(&mut self, value: &[u8], into: &mut T) -> Option<u32> {
        let (schema_id, body) = framing::split(value)?;
        let ValueDecoder { decoders, scratch, .. } = self;
        let decoded = match &**decoders.get(&schema_id)? {
            Decoding::Direct => decode_all_into(into, body),
            Decoding::Resolve(plan) => {
                scratch.clear();
                plan.transcode(body, scratch).and_then(|()| decode_all_into(into, scratch))
            }
            Decoding::Unresolvable(_) => return None,
        };
        decoded.ok().map(|()| schema_id)
    }

    /// Decodes one record's value when its writer schema's plan is cached;
    /// `None` when it is not (then `decode` fetches it).
    pub(crate) fn decode_cached(
        &mut self,
        partition: u32,
        offset: i64,
        value: &[u8],
    ) -> Option<Result<(T, u32), ClientError>> {
        let Some((schema_id, body)) = framing::split(value) else {
            return Some(Err(ClientError::NotFramed { partition, offset }));
        };
        // Fields apart: the plan is borrowed while the scratch buffer is written.
        let ValueDecoder { decoders, scratch, reader_id, .. } = self;
        let decoding = decoders.get(&schema_id)?;
        let decode_err =
            |source| ClientError::Decode { writer_id: schema_id, reader: type_name(T::schema()), source };
        let value = match &**decoding {
            Decoding::Direct => decode_all::<T>(body).map_err(decode_err),
            Decoding::Resolve(plan) => {
                scratch.clear();
                plan.transcode(body, scratch)
                    .map_err(decode_err)
                    .and_then(|()| decode_all::<T>(scratch).map_err(decode_err))
            }
            Decoding::Unresolvable(reason) => Err(ClientError::Unresolvable {
                writer_id: schema_id,
                reader_id: *reader_id,
                reader: type_name(T::schema()),
                reason: reason.clone(),
            }),
        };
        Some(value.map(|v| (v, schema_id)))
    }
}

fn decode_all_into<T: Avro>(value: &mut T, bytes: &[u8]) -> Result<(), runnel_avro::DecodeError> {
    let mut reader = Reader::new(bytes);
    value.decode_into(&mut reader)?;
    reader.finish()
}

fn decode_all<T: Avro>(bytes: &[u8]) -> Result<T, runnel_avro::DecodeError> {
    let mut reader = Reader::new(bytes);
    let value = T::decode(&mut reader)?;
    reader.finish()?;
    Ok(value)
}
