use runnel::Avro;

#[derive(Avro)]
struct Wrapper<T> {
    value: T,
}

fn main() {}
