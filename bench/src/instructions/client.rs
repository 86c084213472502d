//! A blocking HTTP/1.1 client small enough that every byte it sends is
//! known, so that the server does the same work in every run: one `write`
//! per request, the headers the kubelet sends, and a wait for the server to
//! go idle before every request. Loopback only; every read and write is
//! bounded in time.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Longest wait for one read or write: callgrind slows the server down
/// about fifty times, not a thousand.
const IO_BOUND: Duration = Duration::from_secs(10);

/// How the requests reach the server.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Shape {
    /// One connection, requests one after the other.
    KeepAlive,
    /// The kubelet's: a new connection per request, `Connection: close`.
    Kubelet,
}

/// `GET path` as the kubelet writes it (Go's `net/http`, keep-alives and
/// compression disabled), with `Connection: close` in the kubelet's shape.
fn request(addr: SocketAddr, path: &str, shape: Shape) -> Vec<u8> {
    let close = match shape {
        Shape::KeepAlive => "",
        Shape::Kubelet => "Connection: close\r\n",
    };
    format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: kube-probe/1.34\r\n\
         Accept: */*\r\n{close}\r\n"
    )
    .into_bytes()
}

fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    assert!(addr.ip().is_loopback(), "loopback addresses only");
    let stream = TcpStream::connect_timeout(&addr, IO_BOUND)?;
    stream.set_read_timeout(Some(IO_BOUND))?;
    stream.set_write_timeout(Some(IO_BOUND))?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Sends `count` requests for `path` in `shape`, each answered 200, calling
/// `idle` (which returns once the server has parked) after every answer. In
/// the keep-alive shape, returns the connection still open: closing it is
/// work for the server, left out of what is counted.
///
/// Without the waits, a request sometimes reaches the server before it has
/// parked after the previous answer and sometimes after, and the counts of
/// two runs differ by about 0.1 %; with them, every request costs a whole
/// wake-up, as a probe every few seconds does, and two runs agree. For the
/// same reason a new connection waits for `idle` before its request: the
/// server has then always accepted it, read nothing and parked, where
/// otherwise the scheduler decides whether the request is there at the
/// first read.
pub fn send(
    addr: SocketAddr,
    path: &str,
    shape: Shape,
    count: u64,
    idle: &dyn Fn(),
) -> io::Result<Option<TcpStream>> {
    let request = request(addr, path, shape);
    match shape {
        Shape::KeepAlive => {
            let mut reader = BufReader::new(connect(addr)?);
            for _ in 0..count {
                reader.get_mut().write_all(&request)?;
                read_response(&mut reader, path)?;
                idle();
            }
            Ok(Some(reader.into_inner()))
        }
        Shape::Kubelet => {
            for _ in 0..count {
                let mut stream = connect(addr)?;
                idle();
                stream.write_all(&request)?;
                let mut reader = BufReader::new(stream);
                read_response(&mut reader, path)?;
                idle();
                // The server closes: nothing may follow the response.
                let mut rest = Vec::new();
                reader.read_to_end(&mut rest)?;
                if !rest.is_empty() {
                    return Err(invalid(format!("{path}: bytes after the response")));
                }
            }
            Ok(None)
        }
    }
}

/// Reads one response with a `Content-Length` body; an error unless it is
/// a 200.
fn read_response(reader: &mut BufReader<TcpStream>, path: &str) -> io::Result<()> {
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let status = line
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    let mut length = None;
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Err(invalid(format!(
                "{path}: the connection closed in the headers"
            )));
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse::<u64>().ok();
            }
        }
    }
    let length = length.ok_or_else(|| invalid(format!("{path}: no Content-Length")))?;
    if io::copy(&mut reader.by_ref().take(length), &mut io::sink())? != length {
        return Err(invalid(format!(
            "{path}: the connection closed in the body"
        )));
    }
    if status != "200" {
        return Err(invalid(format!("{path} answered {status}, not 200")));
    }
    Ok(())
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}
