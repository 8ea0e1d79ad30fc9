use runnel::Avro;

#[derive(Avro)]
#[avro(namespace = "com.example", nmespace = "typo", name = "9lives")]
#[avro(namespace = "again")]
struct User {
    #[avro(rename = "has space")]
    name: String,
    #[avro(default = "{not json")]
    age: i32,
    #[avro(skip, default = "1")]
    cache: i64,
    #[avro(order = "sideways")]
    score: f64,
}

fn main() {}
