//! A loopback TCP proxy placed between a client and its real server, whose
//! behaviour a test switches at run time to inject network faults.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;

/// What the proxy does to new and existing connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Forwards bytes both ways.
    Pass,
    /// Nothing listens: connects are refused; existing connections are
    /// closed, as when the server process is gone.
    Refuse,
    /// Connections are reset (RST), new and existing.
    Reset,
    /// Connections are accepted and never answered, and existing ones
    /// become black holes for good: what a client sees of a server whose
    /// host vanished (half-open sockets). Switching back to `Pass` serves
    /// new connections only, as a replacement server would.
    Silent,
    /// Connects hang: the port's accept queue is full, so SYNs are dropped;
    /// existing connections become black holes for good, as with `Silent`.
    /// What a Kubernetes Service with no endpoints looks like from a pod.
    HangConnect,
    /// Forwards both ways, every chunk held back this long in each
    /// direction (a round trip takes twice as long more): a dependency
    /// slow but alive.
    Latency(Duration),
}

impl Fault {
    /// Whether bytes go through (possibly late).
    fn forwards(self) -> bool {
        matches!(self, Fault::Pass | Fault::Latency(_))
    }

    /// How long each forwarded chunk is held back.
    fn delay(self) -> Option<Duration> {
        match self {
            Fault::Latency(delay) => Some(delay),
            _ => None,
        }
    }
}

/// A fault proxy on a loopback port, run on its own thread so that faults
/// keep working whatever the test's runtime is doing.
pub struct FaultProxy {
    addr: SocketAddr,
    fault: watch::Sender<Fault>,
    /// Bumped to reset every black-holed connection.
    black_holes: watch::Sender<u64>,
    /// Bumped to black-hole every other open connection.
    partial: watch::Sender<u64>,
    connections: Arc<Mutex<usize>>,
    /// The first bytes of every client-to-server write forwarded so far
    /// (one write per command for memcached's text protocol).
    forwarded: Arc<Mutex<Vec<Vec<u8>>>>,
    thread: Option<std::thread::JoinHandle<()>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl FaultProxy {
    /// Starts a proxy on a free port of 127.0.0.1 forwarding to `target`.
    pub fn start(target: SocketAddr) -> FaultProxy {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let addr = std_listener.local_addr().expect("proxy address");
        std_listener.set_nonblocking(true).expect("nonblocking");
        let (fault, faults) = watch::channel(Fault::Pass);
        let (black_holes, holes) = watch::channel(0u64);
        let (partial, halves) = watch::channel(0u64);
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let connections = Arc::new(Mutex::new(0));
        let counter = connections.clone();
        let forwarded = Arc::new(Mutex::new(Vec::new()));
        let forwarded_in_thread = forwarded.clone();
        let thread = std::thread::Builder::new()
            .name("fault-proxy".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("proxy runtime");
                runtime.block_on(async move {
                    let listener = TcpListener::from_std(std_listener).expect("proxy listener");
                    tokio::select! {
                        () = run(listener, addr, target, Watches { faults, holes, halves }, counter, forwarded_in_thread) => {}
                        _ = stopped => {}
                    }
                });
            })
            .expect("spawn proxy thread");
        FaultProxy {
            addr,
            fault,
            black_holes,
            partial,
            connections,
            forwarded,
            thread: Some(thread),
            stop: Some(stop),
        }
    }

    /// The address clients should connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Switches the fault; takes effect on new and existing connections.
    pub fn set(&self, fault: Fault) {
        self.fault.send_replace(fault);
        // Let the proxy thread rebind or fill its listener before the test
        // goes on.
        std::thread::sleep(Duration::from_millis(100));
    }

    /// Turns every other connection open now (by the order they were
    /// accepted) into a black hole, as `Silent` does, and leaves the rest
    /// and new connections alone: a partial fault, where some of a pool's
    /// connections died and the others did not.
    /// [`reset_black_holes`](Self::reset_black_holes) ends it.
    pub fn black_hole_half(&self) {
        self.partial.send_modify(|epoch| *epoch += 1);
        std::thread::sleep(Duration::from_millis(100));
    }

    /// Resets every connection that a `Silent` or `HangConnect` fault
    /// turned into a black hole, as the client's TCP stack eventually does
    /// when its retransmissions or keepalives go unanswered.
    pub fn reset_black_holes(&self) {
        self.black_holes.send_modify(|epoch| *epoch += 1);
        std::thread::sleep(Duration::from_millis(100));
    }

    /// How many client-to-server writes the proxy has forwarded so far
    /// that start with `prefix` (such as `b"stats"` for memcached).
    pub fn forwarded_starting_with(&self, prefix: &[u8]) -> usize {
        let forwarded = self.forwarded.lock().unwrap();
        forwarded
            .iter()
            .filter(|start| start.starts_with(prefix))
            .count()
    }

    /// How many client connections the proxy has accepted so far.
    pub fn accepted(&self) -> usize {
        *self.connections.lock().unwrap()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The proxy's main loop: holds the kind of listener the fault needs.
async fn run(
    listener: TcpListener,
    addr: SocketAddr,
    target: SocketAddr,
    watches: Watches,
    accepted: Arc<Mutex<usize>>,
    forwarded: Arc<Mutex<Vec<Vec<u8>>>>,
) {
    let Watches {
        mut faults,
        holes,
        halves,
    } = watches;
    let mut listener = Some(listener);
    // Sockets that fill the accept queue while connects must hang.
    let mut fillers: Vec<TcpStream> = Vec::new();
    let mut hang_listener: Option<TcpListener> = None;
    loop {
        let fault = *faults.borrow_and_update();
        match fault {
            Fault::Pass | Fault::Latency(_) | Fault::Reset | Fault::Silent => {
                hang_listener = None;
                fillers.clear();
                if listener.is_none() {
                    listener = Some(rebind(addr, 1024));
                }
            }
            Fault::Refuse => {
                listener = None;
                hang_listener = None;
                fillers.clear();
            }
            Fault::HangConnect => {
                listener = None;
                if hang_listener.is_none() {
                    let (full, filled) = full_listener(addr).await;
                    hang_listener = Some(full);
                    fillers = filled;
                }
            }
        }
        let _ = &hang_listener;
        match &listener {
            Some(active) => {
                tokio::select! {
                    accepted_connection = active.accept() => {
                        if let Ok((client, _)) = accepted_connection {
                            let index = {
                                let mut accepted = accepted.lock().unwrap();
                                *accepted += 1;
                                *accepted
                            };
                            let watches = Watches { faults: faults.clone(), holes: holes.clone(), halves: halves.clone() };
                            tokio::spawn(connection(client, target, index, watches, forwarded.clone()));
                        }
                    }
                    changed = faults.changed() => if changed.is_err() { return },
                }
            }
            None => {
                if faults.changed().await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Binds `addr` again (the port stays ours across faults).
fn rebind(addr: SocketAddr, backlog: u32) -> TcpListener {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_reuseaddr(true).expect("SO_REUSEADDR");
    let mut tries = 0;
    loop {
        match socket.bind(addr) {
            Ok(()) => break,
            Err(error) if tries < 50 => {
                tries += 1;
                let _ = error;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(error) => panic!("rebind {addr}: {error}"),
        }
    }
    socket.listen(backlog).expect("listen")
}

/// A listener on `addr` that never accepts, with its accept queue full:
/// further SYNs to the port are dropped and connects hang.
async fn full_listener(addr: SocketAddr) -> (TcpListener, Vec<TcpStream>) {
    let listener = rebind(addr, 0);
    let mut fillers = Vec::new();
    // The queue holds backlog + 1 connections; stop at the first connect
    // that no longer completes.
    for _ in 0..8 {
        match tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => fillers.push(stream),
            _ => break,
        }
    }
    (listener, fillers)
}

/// What a connection watches: the fault, and the black holes' resets and
/// partial faults.
struct Watches {
    faults: watch::Receiver<Fault>,
    holes: watch::Receiver<u64>,
    halves: watch::Receiver<u64>,
}

/// One client connection (the `index`th accepted), forwarded or mistreated
/// as the fault says.
async fn connection(
    mut client: TcpStream,
    target: SocketAddr,
    index: usize,
    watches: Watches,
    forwarded: Arc<Mutex<Vec<Vec<u8>>>>,
) {
    let Watches {
        mut faults,
        holes,
        mut halves,
    } = watches;
    halves.mark_unchanged();
    let fault = *faults.borrow_and_update();
    match fault {
        Fault::Reset => return reset(client),
        Fault::Silent | Fault::HangConnect => return swallow(client, holes).await,
        Fault::Refuse => return,
        Fault::Pass | Fault::Latency(_) => {}
    }
    let Ok(Ok(mut server)) =
        tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(target)).await
    else {
        return;
    };
    let mut from_client = [0u8; 16 * 1024];
    let mut from_server = [0u8; 16 * 1024];
    loop {
        let fault = *faults.borrow_and_update();
        match fault {
            Fault::Pass | Fault::Latency(_) => {}
            Fault::Reset => {
                reset(server);
                return reset(client);
            }
            Fault::Refuse => return,
            Fault::Silent | Fault::HangConnect => {
                drop(server);
                return swallow(client, holes).await;
            }
        }
        tokio::select! {
            read = client.read(&mut from_client) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => if faults.borrow().forwards() {
                    hold_back(&faults).await;
                    if server.write_all(&from_client[..n]).await.is_err() { return }
                    let mut forwarded = forwarded.lock().unwrap();
                    // Bounded: a long test through the proxy must not grow it forever.
                    if forwarded.len() < 1_000_000 {
                        forwarded.push(from_client[..n.min(16)].to_vec());
                    }
                },
            },
            read = server.read(&mut from_server) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => if faults.borrow().forwards() {
                    hold_back(&faults).await;
                    if client.write_all(&from_server[..n]).await.is_err() { return }
                },
            },
            changed = faults.changed() => if changed.is_err() { return },
            changed = halves.changed() => {
                if changed.is_err() { return }
                if index.is_multiple_of(2) {
                    drop(server);
                    return swallow(client, holes).await;
                }
            }
        }
    }
}

/// Waits as long as a [`Fault::Latency`] holds each chunk back.
async fn hold_back(faults: &watch::Receiver<Fault>) {
    let delay = faults.borrow().delay();
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
}

/// A black hole: reads and discards whatever the client sends, never
/// answers and never closes, until the client gives up or the test resets
/// the black holes.
async fn swallow(mut client: TcpStream, mut holes: watch::Receiver<u64>) {
    holes.mark_unchanged();
    let mut sink = [0u8; 4096];
    loop {
        tokio::select! {
            read = client.read(&mut sink) => if matches!(read, Ok(0) | Err(_)) { return },
            _ = holes.changed() => return reset(client),
        }
    }
}

/// Closes with a RST instead of a FIN.
fn reset(stream: TcpStream) {
    let _ = stream.set_zero_linger();
    drop(stream);
}
