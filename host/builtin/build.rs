//! Compiles `guests/default` so the host binaries carry the original behaviour built in.

use std::path::Path;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let built = clickrules_guest_build::build(
        &root.join("guests"),
        &root.join("wit"),
        &["clickrules-guest-default"],
    );
    let out = Path::new(&std::env::var_os("OUT_DIR").expect("OUT_DIR")).join("default.wasm");
    std::fs::copy(&built[0].wasm, &out).expect("copy the default guest into OUT_DIR");
}
