use runnel::Avro;
use std::collections::HashMap;

#[derive(Avro)]
struct Defaults {
    #[avro(default = "\"seven\"")]
    count: i32,
    #[avro(default = "3000000000")]
    small: i32,
    #[avro(default = "1")]
    name: String,
    #[avro(default = "\"x\"")]
    email: Option<String>,
    #[avro(default = "[1, \"two\"]")]
    list: Vec<i64>,
    #[avro(default = "[]")]
    map: HashMap<String, bool>,
    #[avro(default = "\"\\u0100\"")]
    raw: Vec<u8>,
}

fn main() {}
