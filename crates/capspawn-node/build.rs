//! Link settings for the Node addon (what `napi-build` would emit).

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        // Mark the addon NODELETE so dlclose() never unmaps it. Node can
        // unload an addon (e.g. when a worker's env goes away) while a thread
        // we started may still run our code or hold a threadsafe function, and
        // Rust thread-locals register destructors that live in this image.
        // Unmapping then would crash; napi-build sets the same flag.
        println!("cargo:rustc-cdylib-link-arg=-Wl,-z,nodelete");
    }
}
