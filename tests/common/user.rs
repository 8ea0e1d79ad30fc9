//! The example application's `User` (`schemas/user.avsc`), derived: one
//! definition for the derive tests and the codec benchmark, which compare its
//! encoding with fastavro's, apache-avro's and prost's.

use runnel::Avro;

#[derive(Avro, Debug, Clone, PartialEq)]
#[avro(namespace = "com.example", doc = "A user of the example application.")]
pub struct User {
    pub id: i64,
    pub name: String,
    #[avro(default = "null")]
    pub email: Option<String>,
    pub age: i32,
    pub active: bool,
    pub score: f64,
    pub tags: Vec<String>,
    #[avro(default = "null")]
    pub manager: Option<String>,
}

/// A view of a [`User`] that borrows its strings from the input: what a
/// consumer that reads a record and drops it decodes, without copying.
#[derive(Avro, Debug, Clone, PartialEq)]
#[avro(name = "User", namespace = "com.example", doc = "A user of the example application.")]
pub struct UserRef<'a> {
    pub id: i64,
    pub name: &'a str,
    #[avro(default = "null")]
    pub email: Option<&'a str>,
    pub age: i32,
    pub active: bool,
    pub score: f64,
    pub tags: Vec<&'a str>,
    #[avro(default = "null")]
    pub manager: Option<std::borrow::Cow<'a, str>>,
}
