//! One port in front of several replicas, as a load balancer: each new connection goes to the
//! next replica in turn. Every request is sent on with `Connection: close`, so the replica closes
//! the connection after answering and a client's next request arrives on a new connection, at
//! the other replica: a browser or the SDK, which keep connections open, still alternate between
//! replicas request by request (the worst case for anything a replica keeps in its own memory).
//! After the request head, bytes are copied both ways until either side closes.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub struct Proxy {
    pub port: u16,
    /// Connections handed to each backend, in the order given.
    pub served: Arc<Vec<AtomicUsize>>,
}

impl Proxy {
    /// Listens on 127.0.0.1 (`listener`, bound beforehand so its port can go into PUBLIC_URL)
    /// and spreads connections over `backends` (ports on 127.0.0.1).
    pub fn start(listener: std::net::TcpListener, backends: Vec<u16>) -> Proxy {
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let listener = TcpListener::from_std(listener).unwrap();
        let served: Arc<Vec<AtomicUsize>> = Arc::new(backends.iter().map(|_| AtomicUsize::new(0)).collect());
        let counts = served.clone();
        tokio::spawn(async move {
            let mut next = 0;
            while let Ok((inbound, _)) = listener.accept().await {
                let which = next % backends.len();
                next += 1;
                counts[which].fetch_add(1, Ordering::Relaxed);
                tokio::spawn(forward(inbound, backends[which]));
            }
        });
        Proxy { port, served }
    }

    /// Connections each backend got.
    pub fn served(&self) -> Vec<usize> {
        self.served.iter().map(|n| n.load(Ordering::Relaxed)).collect()
    }
}

async fn forward(mut inbound: TcpStream, backend: u16) {
    let Ok(mut outbound) = TcpStream::connect(("127.0.0.1", backend)).await else { return };
    // The request head (up to the blank line), to say `Connection: close` in it.
    let mut buf = Vec::new();
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let mut chunk = [0u8; 4096];
        match inbound.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        if buf.len() > 64 * 1024 {
            // Too big for a head: pass it on as it is and let the server answer.
            break 0;
        }
    };
    let mut first = Vec::with_capacity(buf.len() + 20);
    if end > 0 {
        let head = String::from_utf8_lossy(&buf[..end - 4]).into_owned();
        for line in head.split("\r\n").filter(|l| !l.to_ascii_lowercase().starts_with("connection:")) {
            first.extend_from_slice(line.as_bytes());
            first.extend_from_slice(b"\r\n");
        }
        first.extend_from_slice(b"Connection: close\r\n\r\n");
    }
    first.extend_from_slice(&buf[end..]);
    if outbound.write_all(&first).await.is_err() {
        return;
    }
    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
}
