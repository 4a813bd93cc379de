//! Link flags for the test guests: freestanding (no C library, no start
//! files), static-pie, non-executable stack. `fixed` is linked as a
//! fixed-address executable instead, to test the tender's ET_EXEC path.

fn main() {
    let common = ["-nostartfiles", "-nostdlib", "-Wl,-z,noexecstack", "-Wl,--gc-sections", "-Wl,--build-id=none"];
    for flag in common {
        println!("cargo:rustc-link-arg-bins={flag}");
    }
    for entry in std::fs::read_dir("src/bin").expect("src/bin") {
        let path = entry.expect("dir entry").path();
        let Some(name) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        let kind: &[&str] =
            if name == "fixed" { &["-static", "-no-pie"] } else { &["-static-pie", "-Wl,--no-dynamic-linker"] };
        for flag in kind {
            println!("cargo:rustc-link-arg-bin={name}={flag}");
        }
    }
    println!("cargo:rerun-if-changed=src/bin");
}
