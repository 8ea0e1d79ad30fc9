use runnel::Avro;

#[derive(Avro)]
struct Logical {
    #[avro(logical = "date")]
    day: i64,
    #[avro(logical = "timestamp-millis")]
    at: String,
    #[avro(logical = "timestamp-seconds")]
    unknown: i64,
    #[avro(decimal(precision = 40, scale = 2))]
    too_precise: i128,
    #[avro(decimal(precision = 5, scale = 2))]
    text: String,
    #[avro(decimal(precision = 2, scale = 3))]
    scale_over: i128,
    #[avro(decimal(precision = 10, scale = 0))]
    small_fixed: [u8; 2],
    #[avro(logical = "duration")]
    wrong_duration: [u8; 8],
    #[avro(fixed_name = "Name")]
    not_fixed: i32,
}

fn main() {}
