use runnel::Avro;

struct NotAvro;

#[derive(Avro)]
struct Holder {
    inner: NotAvro,
    #[avro(skip)]
    skipped: NoDefault,
}

struct NoDefault;

fn main() {}
