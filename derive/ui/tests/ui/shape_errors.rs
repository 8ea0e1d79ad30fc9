use runnel::Avro;

#[derive(Avro)]
struct Pair(i32, i32);

#[derive(Avro)]
struct Unit;

#[derive(Avro)]
struct NotBytes([i32; 4]);

fn main() {}
