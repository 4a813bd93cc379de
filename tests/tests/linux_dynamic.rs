//! Dynamically linked programs in the nommu Linux guest: a musl PIE linked
//! against a shared library of its own, run through musl's loader in the
//! root image (`/lib/ld-musl-x86_64.so.1`, built by `scripts/build-musl.sh`
//! with musl's no-MMU fallback), and a non-PIE program, which the kernel
//! must refuse with ENOEXEC and name in its log.
//!
//! The C programs are built here, with the host's musl-gcc (musl-tools,
//! which `make test` installs) and gcc, into `target/disks/NAME/`, and
//! written with debugfs into `/opt/dyn` of a copy of `build/rootfs.ext4`.
//! Needs `make kernel image tender`.

#![allow(clippy::unwrap_used)] // a failing unwrap is a failing test

use nabla_tests::disk::{powered_off, program_lines, read_file, rootfs, rootfs_copy, scratch, shell};
use nabla_tests::root;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The shared library: a function, data the constructor changes, a string
/// pointer (a relative relocation) and a pointer to an exported variable
/// (a symbolic relocation, which must follow the variable when the
/// program copies it).
const LIBGREET_C: &str = r#"#include <stdio.h>
int greet_calls;
int greet_base = 40;
const char *greet_name = "libgreet";
int *greet_base_ptr = &greet_base;

__attribute__((constructor)) static void greet_init(void)
{
    *greet_base_ptr += 1;
    printf("libgreet: constructor, base %d\n", greet_base);
}

int greet(const char *who)
{
    greet_calls++;
    return printf("hello %s from %s, base %d, call %d\n", who, greet_name, ++*greet_base_ptr, greet_calls);
}
"#;

/// The program: calls into the library and reads its variables.
const GREET_C: &str = r#"#include <stdio.h>
extern int greet_base;
extern const char *greet_name;
int greet(const char *who);

int main(int argc, char **argv)
{
    greet(argc > 1 ? argv[1] : "world");
    greet("again");
    printf("main: base %d, name %s\n", greet_base, greet_name);
    return 0;
}
"#;

/// A program that loads the library at run time.
const DL_C: &str = r#"#include <dlfcn.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    void *h = dlopen(argc > 1 ? argv[1] : "libgreet.so", RTLD_NOW);
    if (!h) {
        printf("dlopen: %s\n", dlerror());
        return 1;
    }
    int (*greet)(const char *) = (int (*)(const char *))dlsym(h, "greet");
    int *base = dlsym(h, "greet_base");
    if (!greet || !base) {
        printf("dlsym: %s\n", dlerror());
        return 1;
    }
    greet("dlopen");
    printf("dl: base %d\n", *base);
    return dlclose(h);
}
"#;

/// A program linked at a fixed address (ET_EXEC), which no-MMU cannot run.
const FIXED_C: &str = r#"#include <stdio.h>
int main(void)
{
    puts("fixed: ran");
    return 0;
}
"#;

/// Where the programs live in the guest.
const DIR: &str = "/opt/dyn";

/// Run a host compiler; panics with its output if it fails.
fn cc(compiler: &str, args: &[&str]) {
    let out = Command::new(compiler)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {compiler} ({e}): `make test` installs gcc and musl-tools (musl-gcc)"));
    assert!(
        out.status.success(),
        "{compiler} {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `readelf ARGS FILE`, as text.
fn readelf(args: &[&str], file: &Path) -> String {
    let out = Command::new("readelf").args(args).arg(file).output().expect("readelf");
    assert!(out.status.success(), "readelf {args:?} {}", file.display());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Write `src` to `dir/name.c` and give its path.
fn source(dir: &Path, name: &str, src: &str) -> String {
    let p = dir.join(format!("{name}.c"));
    std::fs::write(&p, src).unwrap();
    p.to_str().unwrap().to_owned()
}

/// Build the programs into `dir`: libgreet.so; greet (found through
/// LD_LIBRARY_PATH), greet-rpath (DT_RUNPATH /opt/dyn), dl (dlopen), all
/// musl PIEs with musl's loader as PT_INTERP; fixed (gcc -static -no-pie,
/// ET_EXEC). Checks on the host that each is what its name says.
fn build(dir: &Path) -> Vec<PathBuf> {
    let out = |n: &str| dir.join(n).to_str().unwrap().to_owned();
    let (lib, greet, dl, fixed) = (
        source(dir, "libgreet", LIBGREET_C),
        source(dir, "greet", GREET_C),
        source(dir, "dl", DL_C),
        source(dir, "fixed", FIXED_C),
    );
    let d = dir.to_str().unwrap();
    cc("musl-gcc", &["-O2", "-fPIC", "-shared", "-o", &out("libgreet.so"), &lib]);
    cc("musl-gcc", &["-O2", "-fPIE", "-pie", "-o", &out("greet"), &greet, "-L", d, "-lgreet"]);
    let rpath = format!("-Wl,-rpath,{DIR},--enable-new-dtags");
    cc("musl-gcc", &["-O2", "-fPIE", "-pie", "-o", &out("greet-rpath"), &greet, "-L", d, "-lgreet", &rpath]);
    cc("musl-gcc", &["-O2", "-fPIE", "-pie", "-o", &out("dl"), &dl]);
    cc("gcc", &["-O2", "-static", "-no-pie", "-o", &out("fixed"), &fixed]);

    for p in ["greet", "greet-rpath", "dl"] {
        let h = readelf(&["-h", "-l", "-d"], &dir.join(p));
        assert!(h.contains("DYN (Position-Independent Executable file)"), "{p} is not a PIE:\n{h}");
        assert!(h.contains("[Requesting program interpreter: /lib/ld-musl-x86_64.so.1]"), "{p}:\n{h}");
        assert!(h.contains("Shared library: [libc.so]"), "{p} does not need musl's libc.so:\n{h}");
        assert_eq!(h.contains("Shared library: [libgreet.so]"), p != "dl", "{p}:\n{h}");
    }
    assert!(readelf(&["-d"], &dir.join("greet-rpath")).contains("(RUNPATH)            Library runpath: [/opt/dyn]"));
    let r = readelf(&["-r"], &dir.join("libgreet.so"));
    assert!(r.contains("R_X86_64_RELATIVE") && r.contains("R_X86_64_64") && r.contains("greet_base"), "{r}");
    let h = readelf(&["-h", "-l"], &dir.join("fixed"));
    assert!(h.contains("EXEC (Executable file)") && !h.contains("INTERP"), "fixed is not a static ET_EXEC:\n{h}");
    ["libgreet.so", "greet", "greet-rpath", "dl", "fixed"].iter().map(|n| dir.join(n)).collect()
}

/// A copy of the root image with `files` in /opt/dyn (debugfs -w), each
/// mode 0755 and owned by root; checked by reading them back.
fn image_with(dir: &Path, files: &[PathBuf]) -> PathBuf {
    let img = rootfs_copy(dir);
    let mut cmds = String::from("mkdir /opt\nmkdir /opt/dyn\n");
    for f in files {
        let name = f.file_name().unwrap().to_str().unwrap();
        let g = format!("{DIR}/{name}");
        cmds += &format!("write \"{}\" {g}\nsif {g} mode 0100755\nsif {g} uid 0\nsif {g} gid 0\n", f.display());
    }
    let script = dir.join("add.debugfs");
    std::fs::write(&script, cmds).unwrap();
    let out = Command::new("debugfs").arg("-w").arg("-f").arg(&script).arg(&img).output().expect("debugfs");
    // debugfs reports errors on stderr and exits 0: anything but its
    // banner is a failure.
    let errors: Vec<String> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| !l.starts_with("debugfs "))
        .map(str::to_owned)
        .collect();
    assert!(out.status.success() && errors.is_empty(), "debugfs could not add the programs: {errors:?}");
    for f in files {
        let name = f.file_name().unwrap().to_str().unwrap();
        let got = read_file(&img, &format!("{DIR}/{name}")).unwrap_or_else(|| panic!("{name} is not in the image"));
        assert!(got == std::fs::read(f).unwrap(), "{name} in the image differs from {}", f.display());
    }
    img
}

/// The root image holds the loader `scripts/build-musl.sh` built, and the
/// libc.so link to it.
#[test]
fn the_root_image_holds_musls_loader() {
    let built = root().join("build/musl/ld-musl-x86_64.so.1");
    let want = std::fs::read(&built).unwrap_or_else(|e| panic!("{}: {e}: run `make image`", built.display()));
    let got = read_file(&rootfs(), "/lib/ld-musl-x86_64.so.1").expect("no /lib/ld-musl-x86_64.so.1 in the image");
    assert!(got == want, "the image's loader is not {}: run `make image`", built.display());
    let dir = scratch("dynamic-loader");
    let img = rootfs_copy(&dir);
    let r = shell(&img, "readlink /lib/libc.so\n/lib/ld-musl-x86_64.so.1 2>&1 | head -n 1\n");
    powered_off(&r);
    // Run with no program, the loader prints its usage (exit 1) — it runs.
    assert_eq!(program_lines(&r), ["ld-musl-x86_64.so.1", "musl libc (x86_64)"], "{}", r.stdout);
}

#[test]
fn a_musl_pie_runs_with_its_own_shared_library() {
    let dir = scratch("dynamic-greet");
    let files = build(&dir);
    let img = image_with(&dir, &files);
    let script = format!(
        "echo '-- LD_LIBRARY_PATH'; LD_LIBRARY_PATH={DIR} {DIR}/greet guest; echo \"rc=$?\"
echo '-- rpath'; {DIR}/greet-rpath rpath; echo \"rc=$?\"
echo '-- the loader run as a command'; /lib/ld-musl-x86_64.so.1 --library-path {DIR} {DIR}/greet direct; echo \"rc=$?\"
echo '-- dlopen'; {DIR}/dl {DIR}/libgreet.so; echo \"rc=$?\"
echo '-- ldd'; /lib/ld-musl-x86_64.so.1 --list {DIR}/greet-rpath | sed 's/ (0x[0-9a-f]*)$//'
echo '-- no library path'; {DIR}/greet >/tmp/err 2>&1; echo \"rc=$?\"; sort /tmp/err
"
    );
    let r = shell(&img, &script);
    powered_off(&r);
    let want = [
        "-- LD_LIBRARY_PATH",
        "libgreet: constructor, base 41",
        "hello guest from libgreet, base 42, call 1",
        "hello again from libgreet, base 43, call 2",
        "main: base 43, name libgreet",
        "rc=0",
        "-- rpath",
        "libgreet: constructor, base 41",
        "hello rpath from libgreet, base 42, call 1",
        "hello again from libgreet, base 43, call 2",
        "main: base 43, name libgreet",
        "rc=0",
        "-- the loader run as a command",
        "libgreet: constructor, base 41",
        "hello direct from libgreet, base 42, call 1",
        "hello again from libgreet, base 43, call 2",
        "main: base 43, name libgreet",
        "rc=0",
        "-- dlopen",
        "libgreet: constructor, base 41",
        "hello dlopen from libgreet, base 42, call 1",
        "dl: base 42",
        "rc=0",
        "-- ldd",
        "\t/lib/ld-musl-x86_64.so.1",
        "\tlibgreet.so => /opt/dyn/libgreet.so",
        "\tlibc.so => /lib/ld-musl-x86_64.so.1",
        // (The loader's messages sorted: the relocation errors come in the
        // order of the program's relocation table.)
        "-- no library path",
        "rc=127",
        "Error loading shared library libgreet.so: No such file or directory (needed by /opt/dyn/greet)",
        "Error relocating /opt/dyn/greet: greet: symbol not found",
        "Error relocating /opt/dyn/greet: greet_base: symbol not found",
        "Error relocating /opt/dyn/greet: greet_name: symbol not found",
    ];
    assert_eq!(program_lines(&r), want, "{}", r.stdout);
}

#[test]
fn a_non_pie_program_fails_with_enoexec_and_the_kernel_names_it() {
    let dir = scratch("dynamic-fixed");
    let files = build(&dir);
    let img = image_with(&dir, &files);
    let script = format!("{DIR}/fixed; echo \"rc=$?\"\necho '-- dmesg'\ndmesg\n");
    let r = shell(&img, &script);
    powered_off(&r);
    let lines = program_lines(&r);
    let (shell_lines, dmesg) = lines.split_at(lines.iter().position(|l| *l == "-- dmesg").expect("no dmesg"));
    // hush exits 2 when exec fails with anything but EACCES (126) or
    // ENOENT (127); "Exec format error" is strerror(ENOEXEC).
    assert_eq!(shell_lines, [&format!("sh: can't execute '{DIR}/fixed': Exec format error"), "rc=2"], "{}", r.stdout);
    let named: Vec<&&str> = dmesg.iter().filter(|l| l.contains(&format!("{DIR}/fixed"))).collect();
    assert!(
        named.len() == 1 && named[0].contains("ET_EXEC"),
        "the kernel's log should have one line naming {DIR}/fixed and ET_EXEC; it has {named:?}:\n{}",
        dmesg.join("\n")
    );
}
