use runnel::Avro;
use std::collections::HashMap;

#[derive(Avro)]
struct Unsupported {
    unsigned: u32,
    borrowed: &'static str,
    wide: i128,
    keyed: HashMap<i32, String>,
    ints: [i32; 3],
    nested_option: Option<Option<i64>>,
    letter: char,
}

fn main() {}
