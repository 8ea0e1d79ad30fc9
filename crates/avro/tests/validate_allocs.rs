//! The validator allocates nothing on the happy path: checked with a global
//! allocator that counts allocations made by the current thread.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use runnel_avro::{json, validate, Schema};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; the counter is a thread-local Cell
// (const-initialised, so touching it never allocates).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

const SCHEMA: &str = r#"{
  "type": "record", "name": "User", "namespace": "com.example",
  "fields": [
    {"name": "id", "type": "long"},
    {"name": "name", "type": "string"},
    {"name": "tags", "type": {"type": "array", "items": "string"}},
    {"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["A", "B"]}},
    {"name": "attrs", "type": {"type": "map", "values": ["null", "double", "Kind"]}},
    {"name": "hash", "type": {"type": "fixed", "name": "H", "size": 4}},
    {"name": "next", "type": ["null", "User"], "default": null}
  ]
}"#;

#[test]
fn validating_a_good_datum_allocates_nothing() {
    let schema = Schema::parse_str(SCHEMA).unwrap();
    let datum = serde_json::json!({
        "id": 7, "name": "ada", "tags": ["x", "yy", ""],
        "attrs": {"a": null, "b": {"double": 1.5}, "c": {"com.example.Kind": "B"}},
        "kind": "A", "hash": "\u{0}\u{1}\u{fe}\u{ff}",
        "next": {"com.example.User": {"id": 8, "name": "bob", "tags": [], "attrs": {}, "kind": "B",
                 "hash": "abcd", "next": null}}
    });
    let bytes = json::to_vec(&schema, &datum).unwrap();
    validate(&schema, &bytes).unwrap(); // warm up any lazy statics
    let before = allocations();
    for _ in 0..100 {
        validate(&schema, &bytes).unwrap();
    }
    assert_eq!(allocations() - before, 0);
    // The counter does count: a failing validation builds its error.
    let before = allocations();
    assert!(validate(&schema, &bytes[..bytes.len() - 1]).is_err());
    assert!(allocations() > before);
}
