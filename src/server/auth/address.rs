//! Where a request came from, for the audit log: the connection's peer, or, when that peer is
//! a proxy the admin named (`--trusted-proxy`), the address the proxy put last in
//! `X-Forwarded-For` (the part a client cannot forge).

use std::net::{IpAddr, SocketAddr};

use axum::http::request::Parts;

use crate::server::State;

/// The connection's peer, put on every request by the accept loop.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

/// The client's address as text, or empty when unknown.
pub fn client_address(parts: &Parts, state: &State) -> String {
    let Some(Peer(peer)) = parts.extensions.get::<Peer>().copied() else {
        return String::new();
    };
    let trusted = |ip: &IpAddr| state.trusted_proxies.contains(ip);
    if !trusted(&peer.ip()) {
        return peer.ip().to_string();
    }
    // Right to left: the first address that is not one of our proxies is the client.
    let forwarded: Vec<IpAddr> = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse().ok())
        .collect();
    forwarded
        .iter()
        .rev()
        .find(|ip| !trusted(ip))
        .unwrap_or(&peer.ip())
        .to_string()
}
