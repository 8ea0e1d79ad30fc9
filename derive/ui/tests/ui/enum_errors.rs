use runnel::Avro;

#[derive(Avro)]
enum Suit {
    #[avro(default)]
    Spades,
    #[avro(default)]
    Hearts,
    #[avro(rename = "Spades")]
    Clubs,
    #[avro(default = "\"Spades\"")]
    Diamonds,
    #[avro(rename = "no-dashes")]
    Joker,
}

#[derive(Avro)]
enum Empty {}

fn main() {}
