//! Real Debian programs in the nommu Linux guest, unmodified: Debian 12's
//! own glibc binaries (coreutils, findutils, file, grep, sed, mawk,
//! diffutils, gzip, bzip2, xz-utils, zstd, tar, sqlite3, bash, dash, perl,
//! python3.11 with its standard library), unpacked into
//! `build/programs/root` and imaged as `build/programs.ext4` by
//! `scripts/build-programs.sh` (`make programs`). Each command runs
//! chrooted in that tree twice in the same test: natively on the host and
//! in the guest, which has the image as its second disk (`disk1`, read
//! only, `/dev/vdb`); the two standard outputs and exit statuses must be
//! the same. Then Python's `http.server` (a `ThreadingHTTPServer`) in the
//! guest serves requests from the host that only complete when four of
//! them are in the server at once, and a file of the tree, fetched several
//! times at once.
//!
//! Design: both sides run one script with the same shell, busybox hush
//! (the guest's `/bin/busybox`, and `build/busybox/busybox` on the host:
//! the same binary), so that the pipes between chrooted programs and the
//! inputs (`/tmp/words.txt`, made with busybox awk from a fixed seed) are
//! alike. The tree is seen the same way: read-only, with a tmpfs on /tmp,
//! proc on /proc and a /dev (devtmpfs in the guest, the host's /dev bound
//! in a mount namespace of the test's own on the host), and each program
//! starts with the same environment (`env -i`, the C locale, no time
//! zone: UTC). All cases run in one boot; each prints its standard output,
//! error and exit status between markers, and the test reports every
//! mismatch in one table (case, package, both statuses, the first
//! differing line, the guest's standard error). A case whose host run does
//! not give the expected status or prints nothing is a broken case and
//! fails the test too, so a program missing on both sides cannot pass.
//!
//! Limits: needs root (chroot, mount, a mount namespace and, for the HTTP
//! test, a network namespace; CI runs as root) and fails, never skips,
//! without it. The programs must not fork: on nommu `fork` fails (patch
//! 4), so the commands use no `$(...)`, pipes or subshells inside bash or
//! dash, and nothing that runs a helper through `fork` (tar -z, xargs);
//! vfork (hush, `posix_spawn`, Python's subprocess) is fine. A program
//! that hangs stops the whole run at the deadline (120 s in the guest, the
//! same natively): the report then names the first case without a
//! result. Only a case's last command's status is compared; earlier ones
//! count through their output.

#![allow(clippy::unwrap_used)] // a failing unwrap is a failing test

use nabla_tests::disk::{powered_off, rootfs_copy, scratch};
use nabla_tests::linux::kernel;
use nabla_tests::netns::Netns;
use nabla_tests::root;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One command, run chrooted on both sides. `script` is a hush script:
/// `$C` starts a program in the tree (`env -i ... chroot ROOT`), `$T` is
/// the tree's /tmp seen from outside it (for redirections); paths after
/// `$C` are inside the tree.
struct Case {
    name: &'static str,
    package: &'static str,
    /// The exit status expected (that of the script's last command).
    rc: i32,
    script: &'static str,
}

const CASES: &[Case] = &[
    Case {
        name: "sha256sum",
        package: "coreutils",
        rc: 0,
        script: "$C sha256sum /etc/passwd /bin/ls /usr/bin/sqlite3 /usr/lib/file/magic.mgc /tmp/words.txt\n\
                 $C md5sum /bin/cat\n$C sha1sum /bin/true",
    },
    Case {
        name: "sha256sum-check",
        package: "coreutils",
        rc: 0,
        script: "$C sha256sum /bin/ls /bin/cat /usr/bin/xz > $T/sums && $C sha256sum -c /tmp/sums",
    },
    Case {
        name: "ls",
        package: "coreutils",
        rc: 0,
        script: "$C ls -ln --time-style=+%s /etc/passwd /bin/ls /usr/lib/file/magic.mgc\n\
                 $C ls /usr/lib/python3.11/json /usr/share/doc/coreutils",
    },
    Case { name: "cat", package: "coreutils", rc: 0, script: "$C cat -n /etc/passwd /etc/group /etc/debian_version" },
    Case {
        name: "sort-uniq",
        package: "coreutils",
        rc: 0,
        script: "$C sort /tmp/words.txt | $C uniq -c | $C sort -k1,1nr -k2,2 | $C head -n 12\n\
                 $C sort -t' ' -k2,2n -k1,1r /tmp/words.txt | $C tail -n 4\n\
                 $C sort -u /tmp/words.txt | $C wc -l",
    },
    Case {
        name: "wc",
        package: "coreutils",
        rc: 0,
        script: "$C wc /tmp/words.txt /etc/passwd /usr/share/doc/bash/copyright",
    },
    Case {
        name: "tr",
        package: "coreutils",
        rc: 0,
        script: "$C tr a-f A-F < $T/words.txt | $C head -n 4\n\
                 $C tr -d 0-9 < $T/words.txt | $C tr -s ' \\n' | $C md5sum",
    },
    Case {
        name: "cut",
        package: "coreutils",
        rc: 0,
        script: "$C cut -d' ' -f2 /tmp/words.txt | $C sort -n | $C uniq | $C wc -l\n\
                 $C cut -c1-2 /tmp/words.txt | $C sort | $C uniq -c | $C head -n 8",
    },
    Case {
        name: "base64",
        package: "coreutils",
        rc: 0,
        script: "$C base64 /bin/true | $C head -n 2\n\
                 $C base64 /bin/true | $C base64 -d | $C sha256sum\n$C sha256sum /bin/true",
    },
    Case { name: "od", package: "coreutils", rc: 0, script: "$C od -A x -t x1z -N 80 /bin/ls" },
    Case {
        name: "head-tail",
        package: "coreutils",
        rc: 0,
        script: "$C head -n 3 /tmp/words.txt\n$C tail -c 21 /tmp/words.txt\n$C head -c 16 /usr/lib/file/magic.mgc | $C od -c",
    },
    Case {
        name: "seq-paste-factor",
        package: "coreutils",
        rc: 0,
        script: "$C seq 1 7 100 | $C paste -sd+\n$C seq -w 8 12\n$C factor 3277404108 4294967297 1000000007",
    },
    Case {
        name: "date-expr-stat",
        package: "coreutils",
        rc: 0,
        script: "$C date -u -d @1704067200 '+%F %T %A %j'\n$C expr 6 '*' 7\n\
                 $C stat -c '%n %s %a %U %G %F' /etc/passwd /bin/ls\n$C stat -c '%n %a %F' /tmp /usr",
    },
    Case {
        name: "find",
        package: "findutils",
        rc: 0,
        script: "$C find /usr/share/doc -name copyright | $C sort | $C head -n 6\n\
                 $C find /usr/share/doc -type f | $C wc -l\n\
                 $C find /usr/lib/python3.11 -maxdepth 1 -name 'js*' -o -maxdepth 1 -name 'sqlite*' | $C sort\n\
                 $C find /usr/share/doc/bash /usr/share/doc/dash /usr/share/doc/sed -type f -printf '%s %m %p\\n' | $C sort -k3",
    },
    Case {
        name: "file",
        package: "file",
        rc: 0,
        script: "$C file /bin/ls /usr/bin/python3.11 /etc/passwd /usr/lib/file/magic.mgc /tmp/words.txt \
                 /usr/share/doc/bash/copyright /lib/x86_64-linux-gnu/libc.so.6\n\
                 $C file --mime-type -b /bin/ls /etc/passwd /usr/share/doc/sed/changelog.Debian.gz",
    },
    Case {
        name: "grep",
        package: "grep",
        rc: 0,
        script: "$C grep -c abc /tmp/words.txt\n\
                 $C grep -E '^[ab]{3} [0-9]{3}$' /tmp/words.txt | $C wc -l\n\
                 $C grep -n -m 3 fed /tmp/words.txt\n\
                 $C grep -rl 'GNU General Public License' /usr/share/doc | $C sort | $C head -n 5\n\
                 $C grep -ic -w 'free software' /usr/share/doc/bash/copyright",
    },
    Case {
        name: "sed",
        package: "sed",
        rc: 0,
        script: "$C sed -n 's/^\\([a-f]*\\) \\([0-9]*\\)$/\\2:\\1/p' /tmp/words.txt | $C head -n 4\n\
                 $C sed -e '1,3995d' -e 's/a/[A]/g' /tmp/words.txt\n\
                 $C sed -E 's/[0-9]+/N/; y/abc/xyz/' /tmp/words.txt | $C sort -u | $C wc -l",
    },
    Case {
        name: "mawk",
        package: "mawk",
        rc: 0,
        script: "$C mawk '{ n[$1]++; s += $2 } END { for (k in n) c++; printf \"%d %d %d %.4f\\n\", NR, c, s, s / NR }' /tmp/words.txt\n\
                 $C mawk -F: '{ print $1, $3, length($0) }' /etc/passwd\n\
                 $C mawk 'BEGIN { n = split(\"a:b:c\", p, \":\"); printf \"%d %s %s %c %.3e\\n\", n, p[3], toupper(substr(\"nabla\", 2, 3)), 65, 2 ^ 40 }'",
    },
    Case {
        name: "diff",
        package: "diffutils",
        rc: 1,
        script: "$C diff /tmp/a.txt /tmp/b.txt\n$C diff -u --label a --label b /tmp/a.txt /tmp/b.txt",
    },
    Case {
        name: "cmp-diff-r",
        package: "diffutils",
        rc: 0,
        script: "$C cmp /tmp/a.txt /tmp/b.txt; echo \"cmp $?\"\n\
                 $C diff -q /usr/share/doc/sed/copyright /usr/share/doc/grep/copyright; echo \"diff $?\"\n\
                 $C diff /usr/share/doc/sed/copyright /usr/share/doc/sed/copyright && echo same",
    },
    Case {
        name: "gzip",
        package: "gzip",
        rc: 0,
        script: "$C gzip -9 -n -c /tmp/words.txt | $C sha256sum\n\
                 $C gzip -c /tmp/words.txt | $C gzip -dc | $C sha256sum\n\
                 $C gzip -n -c /tmp/words.txt > $T/w.gz && $C gzip -l /tmp/w.gz && $C gzip -t /tmp/w.gz",
    },
    Case {
        name: "bzip2",
        package: "bzip2",
        rc: 0,
        script: "$C bzip2 -9 -c /tmp/words.txt | $C sha256sum\n$C bzip2 -c /tmp/words.txt | $C bzip2 -dc | $C sha256sum",
    },
    Case {
        name: "xz",
        package: "xz-utils",
        rc: 0,
        // Presets -3 and below: from -4 on (the default is -6) xz's
        // encoder asks for one block of over 64 MiB, more than the largest
        // mapping no-MMU gives here (README: Limits).
        script: "$C xz -T1 -3 -c /tmp/words.txt | $C sha256sum\n\
                 $C xz -T1 -0 -c /tmp/words.txt | $C xz -dc | $C sha256sum\n\
                 $C xz -T1 -3 -c /tmp/words.txt > $T/w.xz && $C xz --robot -l /tmp/w.xz",
    },
    Case {
        name: "zstd",
        package: "zstd",
        rc: 0,
        script: "$C zstd -q -19 -c /tmp/words.txt | $C sha256sum\n$C zstd -q -c /tmp/words.txt | $C zstd -q -dc | $C sha256sum",
    },
    Case {
        name: "tar",
        package: "tar",
        rc: 0,
        script: "$C tar -C /usr/share/doc --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf - bash dash sed \
                 | $C sha256sum\n\
                 $C tar -C /usr/share/doc --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf - bash dash \
                 | $C tar -tvf -\n\
                 $C tar -C /usr/share/doc -cf /tmp/d.tar sed && $C mkdir /tmp/x && $C tar -C /tmp/x -xf /tmp/d.tar \
                 && $C diff -r /usr/share/doc/sed /tmp/x/sed && echo extracted",
    },
    Case {
        name: "sqlite3",
        package: "sqlite3",
        rc: 0,
        script: "$C sqlite3 /tmp/t.db <<'SQL'\n\
                 CREATE TABLE w (word TEXT, n INTEGER);\n\
                 WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 5000)\n\
                 INSERT INTO w SELECT substr('abcdefgh', 1 + x % 7, 1 + x % 3), (x * 7919) % 1000 FROM c;\n\
                 CREATE INDEX wi ON w (word);\n\
                 SELECT word, count(*), sum(n), printf('%.3f', avg(n)) FROM w GROUP BY word ORDER BY word LIMIT 6;\n\
                 SELECT json_object('rows', count(*), 'max', max(n)) FROM w;\n\
                 BEGIN; DELETE FROM w WHERE n < 500; COMMIT;\n\
                 SELECT count(*) FROM w;\n\
                 PRAGMA integrity_check;\n\
                 SQL\n\
                 $C sqlite3 /tmp/t.db 'SELECT sqlite_version() > 3, count(DISTINCT word) FROM w'",
    },
    Case {
        name: "bash",
        package: "bash",
        rc: 0,
        script: "$C bash -s <<'SH'\n\
                 declare -a a=(pear apple fig \"two words\")\n\
                 declare -A m=([x]=1 [y]=2)\n\
                 m[z]=3\n\
                 printf '%s|' \"${a[@]}\"; echo\n\
                 printf '%s\\n' \"${#a[@]}\" \"${a[3]// /_}\" \"${a[@]:1:2}\"\n\
                 for k in x y z; do printf '%s=%s ' \"$k\" \"${m[$k]}\"; done; echo\n\
                 [[ apple == a* && 5 -gt 3 && abc =~ ^a(b)c$ ]] && echo \"match ${BASH_REMATCH[1]}\"\n\
                 s=0; for ((i = 1; i <= 20000; i++)); do ((s += i * i)); done; echo \"$s\"\n\
                 printf -v hex '%08x' 3735928559; echo \"$hex ${hex^^}\"\n\
                 mapfile -t lines < /etc/passwd; echo \"${#lines[@]} ${lines[0]%%:*}\"\n\
                 t=0; while read -r w n; do ((t += n)); done < /tmp/words.txt; echo \"$t\"\n\
                 f() { local x=$1; echo \"$((x * 2)) ${FUNCNAME[0]}\"; }; f 21\n\
                 echo \"${BASH_VERSINFO[0]}.${BASH_VERSINFO[1]}\"\n\
                 SH",
    },
    Case {
        name: "dash",
        package: "dash",
        rc: 0,
        script: "$C dash -s <<'SH'\n\
                 i=0; s=0; while [ $i -lt 5000 ]; do i=$((i + 1)); s=$((s + i)); done; echo $s\n\
                 set -- a 'b c' d; echo $# \"$2\"\n\
                 case foo.tar.gz in *.gz) echo gz ;; *) echo other ;; esac\n\
                 printf '%s %5.2f %x %o\\n' str 3.14159 255 8\n\
                 IFS=: read -r u x id rest < /etc/passwd; echo \"$u $id\"\n\
                 v=/usr/share/doc; echo ${v##*/} ${v%/*} ${#v}\n\
                 SH",
    },
    Case {
        name: "perl",
        package: "perl-base",
        rc: 0,
        script: "$C perl <<'PL'\n\
                 use strict; use warnings; use List::Util qw(sum max);\n\
                 my (%h, @n);\n\
                 open(my $f, '<', '/tmp/words.txt') or die;\n\
                 while (<$f>) { my ($w, $n) = split; $h{$w}++; push @n, $n; }\n\
                 printf \"%d %d %d %d\\n\", scalar(keys %h), sum(@n), max(@n), scalar(grep { /^a.c/ } keys %h);\n\
                 print join(',', map { \"$_=$h{$_}\" } (sort { $h{$b} <=> $h{$a} || $a cmp $b } keys %h)[0..4]), \"\\n\";\n\
                 printf \"%.10f %s %s\\n\", atan2(1, 1) * 4, unpack('H*', pack('N', 3735928559)), scalar reverse 'nabla';\n\
                 PL",
    },
    Case {
        name: "python-json-hashlib",
        package: "python3.11",
        rc: 0,
        script: "$C python3 - <<'PY'\n\
                 import hashlib, json\n\
                 d = {\"b\": [1, 2.5, None, True], \"a\": \"\\u00e9t\\u00e9\", \"c\": {\"n\": 2 ** 70}}\n\
                 s = json.dumps(d, sort_keys=True)\n\
                 print(s)\n\
                 print(json.loads(s) == d, hashlib.sha256(s.encode()).hexdigest())\n\
                 print(hashlib.md5(b\"nabla\").hexdigest(), hashlib.blake2b(b\"x\", digest_size=8).hexdigest())\n\
                 print(hashlib.sha256(open(\"/tmp/words.txt\", \"rb\").read()).hexdigest())\n\
                 PY",
    },
    Case {
        name: "python-sqlite3",
        package: "python3.11",
        rc: 0,
        script: "$C python3 - <<'PY'\n\
                 import sqlite3\n\
                 db = sqlite3.connect(\"/tmp/py.db\")\n\
                 db.execute(\"CREATE TABLE w (word TEXT, n INTEGER)\")\n\
                 with open(\"/tmp/words.txt\") as f:\n\
                 \x20   db.executemany(\"INSERT INTO w VALUES (?, ?)\", (l.split() for l in f))\n\
                 db.commit()\n\
                 for row in db.execute(\"SELECT word, count(*), sum(n) FROM w GROUP BY word ORDER BY 2 DESC, 1 LIMIT 5\"):\n\
                 \x20   print(*row)\n\
                 print(db.execute(\"SELECT count(*), sum(n) FROM w\").fetchone(), sqlite3.sqlite_version_info >= (3, 0))\n\
                 PY",
    },
    Case {
        name: "python-threading",
        package: "python3.11",
        rc: 0,
        script: "$C python3 - <<'PY'\n\
                 import hashlib, queue, threading\n\
                 data = open(\"/tmp/words.txt\", \"rb\").read()\n\
                 jobs, results, lock = queue.Queue(), {}, threading.Lock()\n\
                 started = threading.Barrier(8, timeout=30)\n\
                 def work():\n\
                 \x20   started.wait()\n\
                 \x20   while True:\n\
                 \x20       i = jobs.get()\n\
                 \x20       if i is None:\n\
                 \x20           return\n\
                 \x20       h = hashlib.sha256(data[i * 1000:(i + 1) * 1000] * 50).hexdigest()\n\
                 \x20       with lock:\n\
                 \x20           results[i] = h\n\
                 ts = [threading.Thread(target=work) for _ in range(8)]\n\
                 for t in ts: t.start()\n\
                 for i in range(64): jobs.put(i)\n\
                 for t in ts: jobs.put(None)\n\
                 for t in ts: t.join()\n\
                 print(len(results), threading.active_count())\n\
                 print(hashlib.sha256(\"\".join(results[i] for i in range(64)).encode()).hexdigest())\n\
                 ev, out = threading.Event(), []\n\
                 t = threading.Timer(0.05, lambda: (out.append(\"timer\"), ev.set()))\n\
                 t.start(); print(ev.wait(30), out)\n\
                 PY",
    },
    Case {
        name: "python-subprocess",
        package: "python3.11",
        rc: 0,
        script: "$C python3 - <<'PY'\n\
                 import subprocess, sys\n\
                 r = subprocess.run([\"/bin/echo\", \"hi\"], capture_output=True)\n\
                 print(r.returncode, r.stdout)\n\
                 r = subprocess.run([sys.executable, \"-c\", \"import sys; print(6 * 7, sys.argv)\", \"x\"], capture_output=True, text=True)\n\
                 print(r.returncode, r.stdout.strip())\n\
                 p = subprocess.Popen([\"/usr/bin/sort\", \"-r\"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)\n\
                 print(p.communicate(b\"b\\na\\nc\\n\")[0].split(), p.returncode)\n\
                 print(subprocess.call([\"/bin/false\"]), subprocess.check_output([\"/bin/ls\", \"/usr/lib/file\"]))\n\
                 print(subprocess.run(\"/bin/dash -c 'exit 7'\", shell=True).returncode)\n\
                 PY",
    },
    Case {
        name: "python-stdlib",
        package: "python3.11",
        rc: 0,
        script: "$C xz -T1 -3 -c /tmp/words.txt | $C python3 -c 'import lzma, sys, hashlib; \
                 print(hashlib.sha256(lzma.decompress(sys.stdin.buffer.read())).hexdigest())'\n\
                 $C python3 - <<'PY'\n\
                 import bz2, datetime, decimal, fractions, gzip, math, os, re, struct, zlib\n\
                 data = open(\"/tmp/words.txt\", \"rb\").read()\n\
                 print(len(zlib.compress(data, 9)), bz2.decompress(bz2.compress(data)) == data, gzip.decompress(gzip.compress(data)) == data)\n\
                 print(decimal.Decimal(1) / decimal.Decimal(7), fractions.Fraction(3, 12) + 1, math.comb(40, 20), math.pi)\n\
                 print(datetime.datetime.fromtimestamp(1704067200, datetime.timezone.utc).isoformat(), struct.pack(\"<I\", 0xdeadbeef).hex())\n\
                 print(len(re.findall(rb\"^[abc]+ \", data, re.M)), sorted(os.listdir(\"/usr/lib/file\")))\n\
                 print(sum(len(fs) for _, _, fs in os.walk(\"/usr/share/doc\")), os.stat(\"/bin/ls\").st_size)\n\
                 PY",
    },
];

/// The guest's MAC and the kernel's configuration of eth0 (as in
/// linux_net.rs): 10.0.0.2/24, the host side 10.0.0.1 on tap0.
const MAC: &str = "--net-mac:eth0=02:00:00:00:00:02";
const IP: &str = "ip=10.0.0.2::10.0.0.1:255.255.255.0::eth0:off";

/// The environment of every program in the tree.
const ENV: &str = "env -i PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin HOME=/root LC_ALL=C";

/// Mount the programs' disk on /mnt in the guest, as the host side sees
/// its tree: read-only, tmpfs /tmp, proc, devtmpfs /dev.
const GUEST_MOUNT: &str = "mount -t ext4 -o ro /dev/vdb /mnt && mount -t tmpfs -o mode=1777 tmpfs /mnt/tmp && \
    mount -t proc proc /mnt/proc && mount -t devtmpfs devtmpfs /mnt/dev && echo '@@mounted@@'";

/// The image `make programs` builds, and its tree.
fn programs() -> (PathBuf, PathBuf) {
    let image = root().join("build/programs.ext4");
    let tree = root().join("build/programs/root");
    assert!(
        image.exists() && tree.join("usr/bin/python3").exists(),
        "{} or {} is missing: run `make programs` (`make test` does)",
        image.display(),
        tree.display()
    );
    (image, tree)
}

/// These tests chroot, mount and make namespaces: root only. Fails (never
/// skips) otherwise.
fn need_root() {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(euid, 0, "linux_programs needs root (chroot, mount namespaces), as CI runs; run the tests as root");
}

/// The script both sides run after setting R (the tree's root), D (a
/// scratch directory outside it) and putting busybox first in PATH: the
/// inputs, one file per case, then each case with its output between
/// markers.
fn script() -> String {
    let mut s = String::new();
    s.push_str(&format!("export C=\"{ENV} chroot $R\" T=\"$R/tmp\"\nmkdir -p $D\n"));
    // 4,000 lines "WORD NUMBER": 3 to 5 letters of a..f, a number below
    // 1,000, from a linear congruential generator (exact in awk's doubles).
    s.push_str(
        "awk 'function r() { x = (x * 69069 + 1) % 4294967296; return int(x / 65536) }\n\
         BEGIN { x = 12345; for (i = 0; i < 4000; i++) { w = \"\"; n = 3 + r() % 3;\n\
         for (j = 0; j < n; j++) w = w substr(\"abcdef\", 1 + r() % 6, 1); print w, r() % 1000 } }' > $T/words.txt\n\
         seq 1 300 > $T/a.txt\n\
         awk 'NR % 37 == 0 { print \"changed \" $0; next } NR % 50 == 0 { next } { print } END { print \"end\" }' \
         $T/a.txt > $T/b.txt\n",
    );
    for c in CASES {
        s.push_str(&format!("cat > $D/{}.sh <<'@@EOF@@'\n{}\n@@EOF@@\n", c.name, c.script));
    }
    let names: Vec<&str> = CASES.iter().map(|c| c.name).collect();
    s.push_str(&format!(
        "for n in {}; do\n\
         sh $D/$n.sh > $D/$n.out 2> $D/$n.err < /dev/null; rc=$?\n\
         echo \"@@out $n@@\"; cat $D/$n.out; echo; echo \"@@err $n@@\"; head -c 4000 $D/$n.err; echo\n\
         echo \"@@rc $n $rc@@\"\n\
         done\necho '@@all done@@'\n",
        names.join(" ")
    ));
    s
}

/// What one side printed for one case.
#[derive(Debug, PartialEq)]
struct Outcome {
    rc: Option<i32>,
    out: String,
    err: String,
}

/// Each case's outcome in `text` (one side's output), None for a case
/// without a complete result.
fn outcomes(text: &str) -> Vec<Option<Outcome>> {
    CASES
        .iter()
        .map(|c| {
            let (o, e, r) =
                (format!("@@out {}@@\n", c.name), format!("\n@@err {}@@\n", c.name), format!("@@rc {} ", c.name));
            let start = text.find(&o)? + o.len();
            let mid = start + text[start..].find(&e)?;
            let rc_at = mid + text[mid..].find(&r)?;
            let rc_text = &text[rc_at + r.len()..];
            let rc = rc_text[..rc_text.find("@@")?].trim().parse().ok();
            let err = text[mid + e.len()..rc_at].trim_end().to_owned();
            Some(Outcome { rc, out: text[start..mid].to_owned(), err })
        })
        .collect()
}

/// Run the script natively: chrooted in the tree, which a mount namespace
/// of its own sees read-only with the host's /dev, proc and a tmpfs on
/// /tmp; busybox (the guest's) as the shell and the outer tools.
fn run_host(tree: &Path, script: &str) -> String {
    let dir = scratch("programs-host");
    let bbdir = dir.join("bin");
    std::fs::create_dir_all(&bbdir).unwrap();
    let bb = root().join("build/busybox/busybox");
    assert!(bb.exists(), "{} is missing: run `make busybox` (`make test` does)", bb.display());
    let st = Command::new(&bb).arg("--install").arg("-s").arg(&bbdir).status().unwrap();
    assert!(st.success(), "busybox --install -s {}", bbdir.display());
    let prep = "set -e; R=$1; mount --bind \"$R\" \"$R\"; mount -o remount,bind,ro \"$R\"; \
                mount --rbind /dev \"$R/dev\"; mount -t proc proc \"$R/proc\"; mount -t tmpfs -o mode=1777 tmpfs \"$R/tmp\"; \
                exec \"$2\" sh -s";
    let mut child = Command::new("unshare")
        .args(["-m", "--propagation", "private", "/bin/sh", "-c", prep, "prep"])
        .arg(tree)
        .arg(&bb)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("unshare (util-linux)");
    let full = format!("export PATH={}\nR={}\nD={}/work\n{script}", bbdir.display(), tree.display(), dir.display());
    let mut stdin = child.stdin.take().unwrap();
    let w = std::thread::spawn(move || stdin.write_all(full.as_bytes()));
    // The same deadline as the guest's: a program that hangs natively
    // fails the test instead of holding it up.
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let out = child.wait_with_output();
        let _ = tx.send(());
        out
    });
    if rx.recv_timeout(std::time::Duration::from_secs(120)).is_err() {
        // kill(1) of the unshare child we spawned: the waiter thread has
        // not reaped it yet, so the pid is still that child's.
        let _ = Command::new("kill").arg("-KILL").arg(pid.to_string()).status();
        panic!("the host run took over 120 s");
    }
    let out = waiter.join().unwrap().unwrap();
    w.join().unwrap().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && text.contains("@@all done@@"),
        "the host run failed ({}): {}\n{text}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// Boot the guest with a copy of the root image and the programs' image
/// as disk1 (read-only), run the script, and return everything it
/// printed, also when it runs over `secs` seconds (then killed: the
/// output so far tells which case hung).
fn run_guest(image: &Path, script: &str, secs: u64) -> (String, String, Option<i32>) {
    let dir = scratch("programs-guest");
    let rootfs = rootfs_copy(&dir);
    let disk1 = format!("--block:disk1={}:ro", image.display());
    let mut child = nabla_tests::linux::tender()
        .arg("--mem=256")
        .arg("--block")
        .arg(&rootfs)
        .arg(&disk1)
        .args([kernel().as_str(), "--", "quiet"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the tender");
    let full = format!("{GUEST_MOUNT}\nR=/mnt\nD=/tmp/programs\n{script}");
    let mut stdin = child.stdin.take().unwrap();
    std::thread::spawn(move || {
        let _ = stdin.write_all(full.as_bytes());
    });
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = r.read_to_end(&mut v);
            String::from_utf8_lossy(&v).into_owned()
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let code = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st.code();
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    (out.join().unwrap(), err.join().unwrap(), code)
}

/// The first line where `a` and `b` differ, as "line N: host | guest".
fn first_difference(host: &str, guest: &str) -> String {
    let (h, g): (Vec<&str>, Vec<&str>) = (host.lines().collect(), guest.lines().collect());
    let n = h.iter().zip(&g).take_while(|(a, b)| a == b).count();
    let line = |v: &[&str]| v.get(n).map_or("(end)".to_owned(), |l| format!("{l:?}"));
    format!("line {}: host {} | guest {}", n + 1, line(&h), line(&g))
}

/// Every case: the same standard output and exit status natively and in
/// the guest, from one boot.
#[test]
fn debian_programs_match_the_host() {
    need_root();
    let (image, tree) = programs();
    let s = script();
    let started = Instant::now();
    let host = std::thread::scope(|sc| {
        let h = sc.spawn(|| run_host(&tree, &s));
        let g = run_guest(&image, &s, 120);
        (h.join().unwrap(), g)
    });
    let (host, (guest, guest_err, code)) = host;
    let elapsed = started.elapsed();
    assert!(
        guest.contains("@@mounted@@"),
        "the guest could not mount the programs' disk:\n{guest}\nstderr:\n{guest_err}"
    );
    let (h, g) = (outcomes(&host), outcomes(&guest));
    let mut broken = String::new();
    let mut table = String::new();
    let mut passed = Vec::new();
    for (i, c) in CASES.iter().enumerate() {
        let Some(ho) = &h[i] else {
            let _ = writeln!(broken, "  {} ({}): no result on the host", c.name, c.package);
            continue;
        };
        if ho.rc != Some(c.rc) || ho.out.trim().is_empty() {
            let _ = writeln!(
                broken,
                "  {} ({}): on the host, status {:?} (want {}), stdout {:?}, stderr {:?}",
                c.name, c.package, ho.rc, c.rc, ho.out, ho.err
            );
            continue;
        }
        match &g[i] {
            None => {
                let _ = writeln!(
                    table,
                    "  {:<20} {:<11} no result in the guest (hung or the guest stopped)",
                    c.name, c.package
                );
            }
            Some(go) if go.rc != ho.rc || go.out != ho.out => {
                let err: Vec<&str> = go.err.lines().take(4).collect();
                let _ = writeln!(
                    table,
                    "  {:<20} {:<11} status host {:?} guest {:?}; {}\n  {:<33}guest stderr: {}",
                    c.name,
                    c.package,
                    ho.rc,
                    go.rc,
                    first_difference(&ho.out, &go.out),
                    "",
                    err.join(" / ")
                );
            }
            Some(_) => passed.push(c.name),
        }
    }
    assert!(broken.is_empty(), "cases that do not work natively (the test itself is wrong):\n{broken}");
    assert!(
        table.is_empty(),
        "{} of {} cases differ in the guest (guest exit {code:?}, {:.1} s):\n{table}passed: {}\n\
         guest stderr (the tender):\n{guest_err}",
        CASES.len() - passed.len(),
        CASES.len(),
        elapsed.as_secs_f64(),
        passed.join(" ")
    );
    assert!(guest.contains("@@all done@@") && code == Some(0), "the guest did not finish: {code:?}\n{guest}");
}

/// Python's http.server in the guest: a ThreadingHTTPServer whose
/// /barrier requests only complete when four are in the server at once
/// (a threading.Barrier), fetched four at once from the host, then a file
/// of the tree (the 8 MiB magic database) fetched three times at once,
/// each equal to the host's copy.
#[test]
fn python_http_server_serves_concurrent_requests() {
    need_root();
    let (image, tree) = programs();
    let ns = Netns::new("lnpyhttp", &[("tap0", "10.0.0.1/24")]);
    let disk1 = format!("--block:disk1={}:ro", image.display());
    let mut g = ns.boot(&scratch("programs-http"), &[], 256, &[&disk1, "--net:eth0=tap0", MAC], &[IP]);
    let out = g.cmd(GUEST_MOUNT, 60);
    assert!(out.contains("@@mounted@@"), "the guest could not mount the programs' disk: {out}");
    let server = "cat > /mnt/tmp/server.py <<'PY'\n\
        import functools, http.server, threading\n\
        barrier = threading.Barrier(4, timeout=30)\n\
        class Handler(http.server.SimpleHTTPRequestHandler):\n\
        \x20   def log_message(self, *args):\n\
        \x20       pass\n\
        \x20   def do_GET(self):\n\
        \x20       if self.path != \"/barrier\":\n\
        \x20           return super().do_GET()\n\
        \x20       barrier.wait()\n\
        \x20       body = f\"{barrier.parties} at once\\n\".encode()\n\
        \x20       self.send_response(200)\n\
        \x20       self.send_header(\"Content-Length\", str(len(body)))\n\
        \x20       self.end_headers()\n\
        \x20       self.wfile.write(body)\n\
        handler = functools.partial(Handler, directory=\"/usr/lib\")\n\
        http.server.ThreadingHTTPServer((\"0.0.0.0\", 8000), handler).serve_forever()\n\
        PY";
    g.cmd(server, 10);
    let start = format!(
        "{ENV} chroot /mnt /usr/local/bin/python3 /tmp/server.py > /tmp/server.log 2>&1 &\n\
         pid=$!; n=0\n\
         while ! netstat -ltn | grep -q ':8000 ' && kill -0 $pid 2>/dev/null && [ $n -lt 1500 ]; do n=$((n + 1)); sleep 0.02; done\n\
         if netstat -ltn | grep -q ':8000 '; then echo '@@listening@@'; else echo \"@@not listening@@\"; cat /tmp/server.log; fi"
    );
    let out = g.cmd(&start, 60);
    assert!(out.contains("@@listening@@"), "Python's http.server did not start in the guest:\n{out}");

    let fetch = |url: &str| {
        let cmd = format!("set -o pipefail; curl -sS --fail --max-time 60 {url} | sha256sum");
        ns.run(&["bash", "-c", &cmd])
    };
    let hash = |s: &str| s.split_whitespace().next().unwrap_or("").to_owned();
    let want_body = format!("{}  -\n", sha256_hex(b"4 at once\n"));
    let barrier: Vec<(bool, String)> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..4).map(|_| s.spawn(|| fetch("http://10.0.0.2:8000/barrier"))).collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (ok, text) in &barrier {
        assert!(*ok && *text == want_body, "a /barrier request failed: {text}\nall: {barrier:?}");
    }
    let want = sha256_hex(&std::fs::read(tree.join("usr/lib/file/magic.mgc")).unwrap());
    let files: Vec<(bool, String)> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..3).map(|_| s.spawn(|| fetch("http://10.0.0.2:8000/file/magic.mgc"))).collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (ok, text) in &files {
        assert!(*ok && hash(text) == want, "a download differs from the tree's file ({want}): {text}");
    }
    let out = g.cmd("kill -0 $pid && echo '@@still serving@@'; cat /tmp/server.log", 10);
    assert!(out.contains("@@still serving@@"), "the server stopped: {out}");
    powered_off(&g.finish(30));
}

/// SHA-256 of `data` as hex (the host's sha256sum).
fn sha256_hex(data: &[u8]) -> String {
    let mut c = Command::new("sha256sum").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    let mut stdin = c.stdin.take().unwrap();
    let data = data.to_vec();
    let w = std::thread::spawn(move || stdin.write_all(&data));
    let out = c.wait_with_output().unwrap();
    w.join().unwrap().unwrap();
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap().to_owned()
}
