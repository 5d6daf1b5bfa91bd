//! Dialing: where to connect (a host and port, or a Unix socket) and the connection itself,
//! resolved and tried address by address as Node's `net.connect` does, with Node-shaped
//! errors (`connect ECONNREFUSED 127.0.0.1:9`, `getaddrinfo ENOTFOUND`). Shared by TCP
//! sockets, the HTTP client and the WebSocket client.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use abio_core::net;
use abio_core::Error as CoreError;
use socket2::{Domain, SockAddr, Socket};

use crate::error::{AbioError, AbioResult};
use crate::runtime::connected;

/// Where to connect or listen.
pub(crate) enum Target {
    Tcp(String, u16),
    Unix(PathBuf),
}

pub(crate) fn target(host: Option<String>, port: u32, path: Option<String>) -> Target {
    match path {
        Some(p) => Target::Unix(PathBuf::from(p)),
        None => Target::Tcp(host.unwrap_or_default(), port as u16),
    }
}

/// The addresses of `host`: itself when it is an IP, else a lookup (Node's
/// `getaddrinfo ENOTFOUND` when it fails).
pub(crate) async fn resolve(host: &str, port: u16) -> AbioResult<Vec<SocketAddr>> {
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = literal.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let not_found = || CoreError::NotFound {
        host: host.to_string(),
    };
    let addrs: Vec<_> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|_| not_found())?
        .collect();
    if addrs.is_empty() {
        return Err(not_found().into());
    }
    Ok(addrs)
}

pub(crate) fn net_error(
    e: io::Error,
    syscall: &'static str,
    address: String,
    port: Option<u16>,
) -> AbioError {
    CoreError::Net {
        source: e,
        syscall,
        address: Some(address),
        port,
    }
    .into()
}

pub(crate) fn new_socket(domain: Domain) -> io::Result<Socket> {
    net::stream_socket(domain)
}

/// Connects a nonblocking socket to `addr`, waiting for the handshake on the runtime.
async fn connect_one(sock: Socket, addr: &SockAddr) -> io::Result<Socket> {
    match sock.connect(addr) {
        Ok(()) => Ok(sock),
        Err(e) if net::connect_pending(&e) => connected(sock).await,
        Err(e) => Err(e),
    }
}

/// Opens a connection to `target`, trying each address of a host name in turn.
pub(crate) async fn open(target: &Target) -> AbioResult<Socket> {
    match target {
        Target::Unix(path) => {
            let shown = path.to_string_lossy().into_owned();
            let err = |e| net_error(e, "connect", shown.clone(), None);
            let addr = net::unix_addr(path).map_err(err)?;
            let sock = new_socket(Domain::UNIX).map_err(err)?;
            connect_one(sock, &addr).await.map_err(err)
        }
        Target::Tcp(host, port) => {
            let mut last = None;
            for addr in resolve(host, *port).await? {
                let err = |e| net_error(e, "connect", addr.ip().to_string(), Some(*port));
                match new_socket(Domain::for_address(addr)) {
                    Ok(sock) => match connect_one(sock, &addr.into()).await {
                        Ok(sock) => return Ok(sock),
                        Err(e) => last = Some(err(e)),
                    },
                    Err(e) => last = Some(err(e)),
                }
            }
            Err(last.unwrap_or_else(|| CoreError::Closed("socket").into()))
        }
    }
}
