//! Networking shared by plugins: listeners for inputs (TCP, UDP, Unix
//! stream and datagram sockets, TLS), the upstream connection pools of
//! outputs, the TLS settings every network plugin takes, and the HTTP
//! client of the HTTP-based outputs.

pub mod datagram;
pub mod http_client;
pub mod listener;
pub mod reader;
pub mod stream;
pub mod tls;
pub mod tls_client;
pub mod tls_key;
pub mod upstream;
