//! The load generator: `connections` keep-alive HTTP/1 connections on one
//! thread, each sending `GET path` back to back, until `seconds` have
//! passed or `max_requests` have been sent. Loopback addresses only.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;

use crate::args::flag;

/// What one load run measured.
#[derive(Clone, Debug)]
pub struct Summary {
    pub requests: u64,
    pub non_2xx: u64,
    /// Connections that could not connect, or broke before the end (for
    /// wrk: its socket errors, timeouts included).
    pub errors: u64,
    pub seconds: f64,
    pub rps: f64,
    pub p50_us: u64,
    pub p99_us: u64,
}

impl Summary {
    fn print(&self) {
        println!(
            "result requests={} non_2xx={} errors={} seconds={:.3} rps={:.1} p50_us={} p99_us={}",
            self.requests,
            self.non_2xx,
            self.errors,
            self.seconds,
            self.rps,
            self.p50_us,
            self.p99_us
        );
    }

    pub fn parse(output: &str) -> Option<Summary> {
        let line = output.lines().find(|l| l.starts_with("result "))?;
        let field = |name: &str| -> Option<&str> {
            line.split_whitespace()
                .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
        };
        Some(Summary {
            requests: field("requests")?.parse().ok()?,
            non_2xx: field("non_2xx")?.parse().ok()?,
            errors: field("errors")?.parse().ok()?,
            seconds: field("seconds")?.parse().ok()?,
            rps: field("rps")?.parse().ok()?,
            p50_us: field("p50_us")?.parse().ok()?,
            p99_us: field("p99_us")?.parse().ok()?,
        })
    }
}

pub fn main(args: &[String]) {
    let addr: SocketAddr = args
        .first()
        .and_then(|a| a.parse().ok())
        .expect("an address");
    assert!(
        addr.ip().is_loopback(),
        "the load generator only targets loopback addresses"
    );
    let path = args.get(1).cloned().unwrap_or_else(|| "/".to_owned());
    let connections: usize = flag(args, "--connections", 16);
    let seconds: u64 = flag(args, "--seconds", 5);
    let max_requests: u64 = flag(args, "--max-requests", 10_000_000);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime
        .block_on(generate(
            addr,
            path,
            connections,
            Duration::from_secs(seconds),
            max_requests,
        ))
        .print();
}

async fn generate(
    addr: SocketAddr,
    path: String,
    connections: usize,
    bound: Duration,
    max_requests: u64,
) -> Summary {
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + bound;
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            let (path, sent) = (path.clone(), sent.clone());
            tokio::spawn(
                async move { connection(addr, &path, deadline, &sent, max_requests).await },
            )
        })
        .collect();
    let mut latencies = Vec::new();
    let mut non_2xx = 0;
    let mut errors = 0;
    for task in tasks {
        let (mut own, bad, broke) = task.await.unwrap();
        latencies.append(&mut own);
        non_2xx += bad;
        errors += u64::from(broke);
    }
    let seconds = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let percentile = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    Summary {
        requests: latencies.len() as u64,
        non_2xx,
        errors,
        seconds,
        rps: latencies.len() as f64 / seconds,
        p50_us: percentile(0.50),
        p99_us: percentile(0.99),
    }
}

/// One connection's loop; returns its latencies (µs), its non-2xx count,
/// and whether it failed before the end (a request still unanswered at the
/// end of the run is not a failure).
async fn connection(
    addr: SocketAddr,
    path: &str,
    deadline: Instant,
    sent: &std::sync::atomic::AtomicU64,
    max_requests: u64,
) -> (Vec<u64>, u64, bool) {
    let mut latencies = Vec::with_capacity(1 << 16);
    let mut non_2xx = 0;
    let Ok(stream) = tokio::net::TcpStream::connect(addr).await else {
        return (latencies, 0, true);
    };
    let _ = stream.set_nodelay(true);
    let Ok((mut sender, conn)) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
    else {
        return (latencies, 0, true);
    };
    tokio::spawn(conn);
    while Instant::now() < deadline
        && sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < max_requests
    {
        let request = http::Request::get(path)
            .header("host", "127.0.0.1")
            .body(Empty::<Bytes>::new())
            .unwrap();
        let started = Instant::now();
        let response =
            match tokio::time::timeout_at(deadline.into(), sender.send_request(request)).await {
                Ok(Ok(response)) => response,
                Ok(Err(_)) => return (latencies, non_2xx, true),
                Err(_end_of_run) => break,
            };
        if !response.status().is_success() {
            non_2xx += 1;
        }
        if response.into_body().collect().await.is_err() {
            return (latencies, non_2xx, true);
        }
        latencies.push(started.elapsed().as_micros() as u64);
    }
    (latencies, non_2xx, false)
}

/// One `GET` on a fresh connection; returns the status.
pub async fn get_status(addr: SocketAddr, path: &str) -> u16 {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let request = http::Request::get(path)
        .header("host", "127.0.0.1")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = tokio::time::timeout(Duration::from_secs(10), sender.send_request(request))
        .await
        .unwrap()
        .unwrap();
    let status = response.status().as_u16();
    let _ = response.into_body().collect().await;
    status
}

/// One `GET` on a fresh connection, as the kubelet probes: the status and
/// the body, or `None` if no answer came within `bound`.
pub async fn probe(addr: SocketAddr, path: &str, bound: Duration) -> Option<(u16, String)> {
    let exchange = async {
        let stream = tokio::net::TcpStream::connect(addr).await.ok()?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .ok()?;
        tokio::spawn(conn);
        let request = http::Request::get(path)
            .header("host", "127.0.0.1")
            .body(Empty::<Bytes>::new())
            .unwrap();
        let response = sender.send_request(request).await.ok()?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.ok()?.to_bytes();
        Some((status, String::from_utf8_lossy(&body).into_owned()))
    };
    tokio::time::timeout(bound, exchange).await.ok().flatten()
}
