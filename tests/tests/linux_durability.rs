//! Durability of the guest's disks, as a database user would test it:
//! data synced in one boot is there in the next, a tender killed with
//! SIGKILL in the middle of writes loses nothing that was fsynced and
//! leaves a file system that only needs its journal replayed, a full disk
//! is ENOSPC, and a host I/O error is an I/O error in the guest.

#![allow(clippy::unwrap_used)] // a failing unwrap is a failing test

use nabla_tests::disk::{MEM, fsck, powered_off, read_file, replay_journal, rootfs_copy, scratch, shell, shell_with};
use nabla_tests::linux::kernel;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// What `seq FROM TO` prints.
fn seq(from: u64, to: u64) -> Vec<u8> {
    (from..=to).map(|i| format!("{i}\n")).collect::<String>().into_bytes()
}

#[test]
fn data_synced_in_one_boot_is_there_in_the_next() {
    let dir = scratch("reboot");
    let img = rootfs_copy(&dir);
    let r = shell(&img, "seq 1 100000 > /root/data; sync; sha256sum /root/data\n");
    powered_off(&r);
    let first = r.stdout.lines().find(|l| l.ends_with("/root/data")).unwrap().to_owned();
    let r = shell(&img, "sha256sum /root/data\n");
    powered_off(&r);
    assert!(r.stdout.lines().any(|l| l == first), "{} / {first}", r.stdout);
    // And byte for byte in the image, as the host reads it.
    assert_eq!(read_file(&img, "/root/data").unwrap(), seq(1, 100_000));
}

/// A small deterministic generator for the kill moments (the seed is
/// printed, so a failure can be replayed with NABLA_KILL_SEED).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below
    }
}

/// The writer each round runs: files of the round, each fsynced, its
/// name printed once fsync returned. Before it, the files the previous
/// round reported synced are checked against what they must hold.
fn round_script(round: u64, check_upto: u64) -> String {
    let prev = round.wrapping_sub(1);
    format!(
        "i=1; bad=0; while [ $i -le {check_upto} ]; do \
           seq $i $((i + 700)) | cmp -s - /d/r{prev}-$i || {{ echo bad $i; bad=1; }}; i=$((i + 1)); done; \
         echo checked {check_upto} bad=$bad\n\
         rm -rf /d; mkdir /d; sync\n\
         i=1; while true; do seq $i $((i + 700)) > /d/r{round}-$i; fsync /d/r{round}-$i && echo synced $i; \
           i=$((i + 1)); done\n"
    )
}

/// Boot, let the round's writer run, and kill the tender with SIGKILL
/// `delay_ms` after the first file is synced. Returns the last file
/// reported synced and whether the previous round's check passed.
fn killed_round(img: &str, round: u64, check_upto: u64, delay_ms: u64) -> (u64, String) {
    let k = kernel();
    let mut child = nabla_tests::linux::tender()
        .args([MEM, "--block", img, &k, "--", "quiet"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(round_script(round, check_upto).as_bytes()).unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    let out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let (mut synced, mut checked) = (0u64, String::new());
    let start = Instant::now();
    let mut kill_at: Option<Instant> = None;
    loop {
        if kill_at.is_some_and(|t| Instant::now() >= t) {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "round {round}: no progress");
        match rx.recv_timeout(Duration::from_millis(1)) {
            Ok(line) => {
                if let Some(n) = line.strip_prefix("synced ") {
                    synced = n.parse().unwrap();
                    kill_at.get_or_insert(Instant::now() + Duration::from_millis(delay_ms));
                } else if line.starts_with("checked ") || line.starts_with("bad ") {
                    checked += &line;
                    checked.push('\n');
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => panic!("round {round}: the guest ended"),
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // Lines the host saw after the kill decision still count: their
    // fsync had returned before the tender wrote them.
    reader.join().unwrap();
    while let Ok(line) = rx.try_recv() {
        if let Some(n) = line.strip_prefix("synced ") {
            synced = n.parse().unwrap();
        }
    }
    (synced, checked)
}

#[test]
fn sigkill_during_writes_loses_no_fsynced_file() {
    let dir = scratch("sigkill");
    let img = rootfs_copy(&dir);
    let seed = std::env::var("NABLA_KILL_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
    });
    eprintln!("kill moments from NABLA_KILL_SEED={seed}");
    let mut rng = Lcg(seed);
    let path = img.to_str().unwrap().to_owned();
    let mut last = 0u64;
    let mut total = 0u64;
    for round in 1..=50u64 {
        let delay = rng.next(300);
        let (synced, checked) = killed_round(&path, round, last, delay);
        if round > 1 {
            assert_eq!(checked, format!("checked {last} bad=0\n"), "round {round} (seed {seed}): files lost");
        }
        // The image after a SIGKILL: replay the journal, then no error.
        replay_journal(&img);
        let (code, report) = fsck(&img);
        assert_eq!(code, 0, "round {round} (seed {seed}), killed {delay} ms after the first fsync:\n{report}");
        last = synced;
        total += synced;
    }
    // The last round's files, read by the host from the image.
    for i in [1, last / 2, last].into_iter().filter(|&i| i > 0) {
        let got = read_file(&img, &format!("/d/r50-{i}")).unwrap_or_else(|| panic!("/d/r50-{i} is missing"));
        assert_eq!(got, seq(i, i + 700), "/d/r50-{i} (seed {seed})");
    }
    assert!(total >= 50, "only {total} files synced in 50 rounds");
    eprintln!("{total} fsynced files in 50 killed rounds, none lost");
}

#[test]
fn a_full_disk_is_enospc_and_nothing_worse() {
    let dir = scratch("full");
    let img = rootfs_copy(&dir);
    let script = "dd if=/dev/zero of=/fill bs=1M 2>/tmp/dd.err; echo dd=$?\ngrep -o 'No space left on device' /tmp/dd.err | head -n 1\n\
                  echo more > /more; echo write=$?\nrm /fill; echo again > /more; cat /more\n";
    // 256 MiB: the 128 MiB disk fills the page cache first, and without
    // an MMU the programs run after dd (grep, head, each a vfork and exec
    // of the 1.1 MiB busybox) need a free 2 MiB block; in 128 MiB one was
    // sometimes not there (nommu: allocation failed), which is not what
    // this test is about.
    let k = kernel();
    let args = ["--mem=256", "--block", img.to_str().unwrap(), k.as_str(), "--", "quiet"];
    let r = nabla_tests::run_with_input(&args, Some(script.as_bytes()), 60).expect("the guest ran over 60 s");
    powered_off(&r);
    for want in ["dd=1", "No space left on device", "write=1", "again"] {
        assert!(r.stdout.lines().any(|l| l == want), "no {want:?} in:\n{}", r.stdout);
    }
    assert!(!r.stdout.contains("EXT4-fs error"), "{}", r.stdout);
    let (code, report) = fsck(&img);
    assert_eq!(code, 0, "{report}");
}

/// A host file system that runs out of room under the image (a sparse
/// image on a small tmpfs): the host's pwrite fails, and the guest sees
/// an I/O error on its disk, keeps running and powers off. Needs root
/// for the mount (CI runs as root).
#[test]
fn host_io_errors_are_io_errors_in_the_guest() {
    let dir = scratch("host-eio");
    let mnt = dir.join("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    let mount = Command::new("mount").args(["-t", "tmpfs", "-o", "size=24m", "nabla-eio"]).arg(&mnt).status().unwrap();
    assert!(mount.success(), "cannot mount a tmpfs (this test needs root, as CI has)");
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _guard = Unmount(mnt.clone());
    let img = rootfs_copy(&mnt);
    let disk1 = mnt.join("data.img");
    let f = std::fs::File::create(&disk1).unwrap();
    f.set_len(64 << 20).unwrap();
    drop(f);
    let mkfs = Command::new("mke2fs").args(["-q", "-t", "ext4", "-F"]).arg(&disk1).status().unwrap();
    assert!(mkfs.success());
    let arg = format!("--block:disk1={}", disk1.display());
    // 48 MiB of data onto a host file system with about 20 MiB left.
    let script = "mount /dev/vdb /mnt; echo mount=$?\n\
                  dd if=/dev/zero of=/mnt/big bs=1M count=48 conv=fsync 2>/tmp/dd.err; echo dd=$?\n\
                  grep -o 'I/O error' /tmp/dd.err | head -n 1\necho alive\n";
    let r = shell_with(&["--block", img.to_str().unwrap(), &arg], &[], script, 120);
    powered_off(&r);
    for want in ["mount=0", "dd=1", "I/O error", "alive"] {
        assert!(r.stdout.lines().any(|l| l == want), "no {want:?} in:\n{}", r.stdout);
    }
    assert!(r.stdout.contains("I/O error, dev vdb"), "the kernel did not report the error:\n{}", r.stdout);
}
