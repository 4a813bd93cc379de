//! `nabla-runtime`: an OCI runtime with runc's command line (work in progress).

fn main() {
    eprintln!("nabla-runtime: not built yet");
    std::process::exit(2);
}
