//! The server on the wire. actix-http's HTTP/1 dispatcher answers some requests itself (400 for a
//! malformed request, 431 for a head over 128 KiB or over 96 headers, 408 when the head does not
//! arrive in time), before any middleware, with an empty body; the contract promises a JSON error
//! for every bad input, and actix offers no hook for these. So each connection's stream is
//! wrapped (`JsonErrIo`): a write that ends with exactly such a response (it is always the last
//! one on its connection) goes out as the same status with the contract's JSON body instead.
//! Every other write passes straight through after one 8-byte comparison. If a later actix-http
//! encodes these responses differently, they simply stay empty again (tests/api/errors.rs notices).
use actix_http::{body::MessageBody, HttpService, Protocol, Request, Response};
use actix_service::{fn_service, map_config, IntoServiceFactory, Service, ServiceFactory, ServiceFactoryExt};
use actix_web::{dev::AppConfig, rt::net::TcpStream};
use std::{
    fmt, io, net,
    pin::Pin,
    task::{ready, Context, Poll},
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

const KNOWN: [(&str, &str, &str, &str); 4] = [
    ("400 Bad Request", "invalid_request_error", "invalid_request",
     "The HTTP request is malformed (request line, header syntax, Host, Content-Length or Transfer-Encoding)."),
    ("431 Request Header Fields Too Large", "invalid_request_error", "header_too_large",
     "The request header section is too large: at most 96 header fields and 128 KiB are accepted."),
    ("408 Request Timeout", "invalid_request_error", "request_timeout", "The request headers were not received in time."),
    ("500 Internal Server Error", "api_error", "internal",
     "Something went wrong on the server; try again, and tell the operator if it keeps happening."),
];

/// If `buf` ends with `HTTP/1.x <KNOWN>\r\ncontent-length: 0\r\n[connection: close|keep-alive\r\n]date: <29>\r\n\r\n`
/// (what actix-http 3.20 encodes for its own errors) returns its offset and a maker for the replacement.
pub fn own_error(buf: &[u8]) -> Option<(usize, impl FnOnce() -> Vec<u8> + '_)> {
    if !buf.ends_with(b" GMT\r\n\r\n") || buf.len() < 80 {
        return None;
    } // fast path for every normal response
    let date = buf.len() - 39; // "date: " + 29-byte IMF-fixdate + "\r\n\r\n"
    if &buf[date..date + 6] != b"date: " {
        return None;
    }
    let head = &buf[..date];
    let head = head
        .strip_suffix(b"connection: close\r\n".as_slice())
        .or_else(|| head.strip_suffix(b"connection: keep-alive\r\n".as_slice()))
        .unwrap_or(head);
    let head = head.strip_suffix(b"\r\ncontent-length: 0\r\n".as_slice())?;
    let (status, kind, code, message) = KNOWN.iter().find(|k| head.ends_with(k.0.as_bytes()))?;
    let start = head.len().checked_sub(status.len() + 9)?;
    let ver = &head[start..start + 9];
    if ver != b"HTTP/1.1 " && ver != b"HTTP/1.0 " {
        return None;
    }
    Some((start, move || {
        let body = serde_json::json!({"error": {"type": kind, "code": code, "message": message}}).to_string();
        let mut r = format!(
            "{}{status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
            String::from_utf8_lossy(ver),
            body.len()
        )
        .into_bytes();
        r.extend_from_slice(&buf[date..]); // original "date: ...\r\n\r\n"
        r.extend_from_slice(body.as_bytes());
        r
    }))
}

pub struct JsonErrIo {
    io: TcpStream,
    /// (replacement, bytes of it written, length of the original it stands for)
    out: Option<(Vec<u8>, usize, usize)>,
}

impl AsyncWrite for JsonErrIo {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.out.is_none() {
            match own_error(buf) {
                None => return Pin::new(&mut this.io).poll_write(cx, buf),
                // pipelined responses before it: write them, never a byte of the error itself
                Some((start, _)) if start > 0 => return Pin::new(&mut this.io).poll_write(cx, &buf[..start]),
                Some((_, make)) => this.out = Some((make(), 0, buf.len())),
            }
        }
        // The dispatcher retries with the same bytes until told they are written, so the original
        // counts as written only once the whole replacement is in the kernel: nothing is lost.
        let Some((out, pos, orig_len)) = this.out.as_mut() else { return Poll::Ready(Ok(0)) };
        while *pos < out.len() {
            match ready!(Pin::new(&mut this.io).poll_write(cx, &out[*pos..]))? {
                0 => return Poll::Ready(Ok(0)),
                n => *pos += n,
            }
        }
        let n = *orig_len;
        this.out = None;
        Poll::Ready(Ok(n))
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

impl AsyncRead for JsonErrIo {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, b: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, b)
    }
}

/// What `HttpServer::new(factory).workers(n).shutdown_timeout(t).disable_signals().listen(l)?.run()`
/// builds (same defaults: keep-alive 5 s, head timeout 5 s, disconnect 1 s, idle keep-alive
/// connections closed on a graceful stop), with each stream wrapped in `JsonErrIo`.
pub fn serve<F, I, S, B>(
    listener: net::TcpListener,
    workers: usize,
    shutdown_timeout: u64,
    factory: F,
) -> io::Result<actix_web::dev::Server>
where
    F: Fn() -> I + Send + Clone + 'static,
    I: IntoServiceFactory<S, Request>,
    S: ServiceFactory<Request, Config = AppConfig> + 'static,
    S::Error: Into<actix_web::Error> + 'static,
    S::InitError: fmt::Debug,
    S::Response: Into<Response<B>> + 'static,
    <S::Service as Service<Request>>::Future: 'static,
    S::Service: 'static,
    B: MessageBody + 'static,
{
    let addr = listener.local_addr()?;
    // Signals are the command line's to turn into a graceful stop (cli::serve).
    let mut builder = actix_server::Server::build().shutdown_timeout(shutdown_timeout).disable_signals();
    if workers > 0 {
        builder = builder.workers(workers);
    }
    let shutdown = builder.graceful_shutdown_signal();
    Ok(builder
        .listen("api", listener, move || {
            let shutdown = shutdown.clone();
            let app = factory().into_factory().map_err(|e| e.into().error_response());
            let http = HttpService::build()
                .local_addr(addr)
                .graceful_shutdown_signal(move || {
                    let s = shutdown.clone();
                    async move { s.notified().await }
                })
                .finish(map_config(app, move |_| AppConfig::__priv_test_new(false, addr.to_string(), addr)));
            fn_service(|io: TcpStream| async move {
                let peer = io.peer_addr().ok(); // what req.peer_addr() returns
                Ok((JsonErrIo { io, out: None }, Protocol::Http1, peer))
            })
            .and_then(http)
        })?
        .run())
}
