//! One port in front of several replicas: each new connection goes to the next replica in turn,
//! as a load balancer would spread them. Bytes are copied both ways until either side closes.

use tokio::net::{TcpListener, TcpStream};

pub struct Proxy {
    pub port: u16,
}

impl Proxy {
    /// Listens on 127.0.0.1 (`listener`, bound beforehand so its port can go into PUBLIC_URL)
    /// and spreads connections over `backends` (ports on 127.0.0.1).
    pub fn start(listener: std::net::TcpListener, backends: Vec<u16>) -> Proxy {
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let listener = TcpListener::from_std(listener).unwrap();
        tokio::spawn(async move {
            let mut next = 0;
            while let Ok((mut inbound, _)) = listener.accept().await {
                let backend = backends[next % backends.len()];
                next += 1;
                tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(("127.0.0.1", backend)).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Proxy { port }
    }
}
