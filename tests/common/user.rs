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
