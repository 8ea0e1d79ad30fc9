use runnel::Avro;

#[derive(Avro)]
#[avro(name = "Payload", namespace = "x")]
enum Payload {
    Empty,
    Nothing,
    Small(i64),
    Large(i64),
    Maybe(Option<String>),
    Pair(i32, i32),
    Named { x: i32 },
}

fn main() {}
