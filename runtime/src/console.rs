//! `process.terminal` with `--console-socket`: the container's process
//! gets a new pseudo-terminal, as with runc.
//!
//! In the container's process (a new session), `create` opens a pty pair,
//! connects to the unix socket `--console-socket` names and sends the
//! master's fd there in one `SCM_RIGHTS` message (the payload is the
//! slave's name, which containerd's shim ignores), then makes the slave
//! its controlling terminal and its fds 0, 1 and 2, in raw mode (input
//! and output: the guest's own terminal does the line discipline). The tender then runs
//! on the slave: it sees a terminal and passes keystrokes through raw,
//! and the guest's `nabla-init` gives the container's process the guest
//! console as its own terminal (`terminal` in the guest config).

use std::ffi::CStr;
use std::io;
use std::os::unix::io::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

/// Errors of the console set-up.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// openpty.
    #[error("cannot open a pseudo-terminal: {0}")]
    Pty(io::Error),
    /// The socket.
    #[error("console socket {0}: {1}")]
    Socket(String, io::Error),
    /// Making the slave our terminal.
    #[error("cannot make the pseudo-terminal the container's terminal: {0}")]
    Setup(io::Error),
}

fn check(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 { Err(io::Error::last_os_error()) } else { Ok(r) }
}

/// Send `fd` over `sock` with `name` as the payload.
pub fn send_fd(sock: &UnixStream, fd: RawFd, name: &[u8]) -> io::Result<()> {
    let mut payload = name.to_vec();
    if payload.is_empty() {
        payload.push(0);
    }
    let mut iov = libc::iovec { iov_base: payload.as_mut_ptr().cast(), iov_len: payload.len() };
    // SAFETY: CMSG_SPACE is a pure computation.
    let space = unsafe { libc::CMSG_SPACE(size_of::<RawFd>() as u32) } as usize;
    let mut cbuf = vec![0u64; space.div_ceil(8)];
    // SAFETY: an all-zero msghdr is valid; the fields are set below.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = space;
    // SAFETY: msg_control points at `space` bytes, enough for one header
    // with one fd (CMSG_SPACE), so CMSG_FIRSTHDR is non-null and CMSG_DATA
    // has room for the fd.
    unsafe {
        let c = libc::CMSG_FIRSTHDR(&msg);
        (*c).cmsg_level = libc::SOL_SOCKET;
        (*c).cmsg_type = libc::SCM_RIGHTS;
        (*c).cmsg_len = libc::CMSG_LEN(size_of::<RawFd>() as u32) as usize;
        std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<RawFd>(), fd);
    }
    // SAFETY: `msg` and everything it points at live across the call.
    check(unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, 0) } as libc::c_int)?;
    Ok(())
}

/// Open a pty, send its master to `socket` and make its slave this
/// process's controlling terminal and stdio. Call in a session leader.
pub fn setup(socket: &Path) -> Result<(), ConsoleError> {
    let (mut master, mut slave) = (-1, -1);
    // SAFETY: openpty writes two fds; the name, termios and winsize are null.
    check(unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), std::ptr::null()) })
        .map_err(ConsoleError::Pty)?;
    let mut name = [0 as libc::c_char; 128];
    // SAFETY: ptsname_r writes at most `name.len()` bytes.
    let name = if unsafe { libc::ptsname_r(master, name.as_mut_ptr(), name.len()) } == 0 {
        // SAFETY: ptsname_r NUL-terminated it.
        unsafe { CStr::from_ptr(name.as_ptr()) }.to_bytes().to_vec()
    } else {
        b"/dev/ptmx".to_vec()
    };
    let sock_err = |e| ConsoleError::Socket(socket.display().to_string(), e);
    let sock = UnixStream::connect(socket).map_err(sock_err)?;
    send_fd(&sock, master, &name).map_err(sock_err)?;
    drop(sock);
    // SAFETY: our own fd, sent; the receiver holds its own copy.
    unsafe { libc::close(master) };
    // The guest's own terminal does the line discipline (echo, editing,
    // "\n" to "\r\n"): the host side passes bytes through untouched.
    // SAFETY: zeroed termios is a valid out-buffer; cfmakeraw edits it.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(slave, &mut t) == 0 {
            libc::cfmakeraw(&mut t);
            libc::tcsetattr(slave, libc::TCSANOW, &t);
        }
    }
    // SAFETY: TIOCSCTTY takes an int argument; dup2 and close on our fds.
    unsafe {
        check(libc::ioctl(slave, libc::TIOCSCTTY, 0)).map_err(ConsoleError::Setup)?;
        for fd in 0..3 {
            check(libc::dup2(slave, fd)).map_err(ConsoleError::Setup)?;
        }
        if slave > 2 {
            libc::close(slave);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::io::FromRawFd;

    #[test]
    fn an_fd_goes_through_the_socket() {
        let (a, b) = UnixStream::pair().unwrap();
        let f = std::fs::File::open("/proc/self/stat").unwrap();
        send_fd(&a, f.as_raw_fd(), b"name").unwrap();
        let mut buf = [0u8; 16];
        let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
        let mut cbuf = [0u64; 8];
        // SAFETY: zeroed msghdr, fields set below.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = size_of_val(&cbuf);
        // SAFETY: msg points at live buffers.
        let n = unsafe { libc::recvmsg(b.as_raw_fd(), &mut msg, 0) };
        assert_eq!(n, 4);
        assert_eq!(&buf[..4], b"name");
        // SAFETY: the kernel filled one SCM_RIGHTS header.
        let fd = unsafe { std::ptr::read_unaligned(libc::CMSG_DATA(libc::CMSG_FIRSTHDR(&msg)).cast::<RawFd>()) };
        // SAFETY: a new fd the kernel gave us.
        let got = unsafe { std::fs::File::from_raw_fd(fd) };
        assert!(got.metadata().unwrap().len() == 0);
    }
}
