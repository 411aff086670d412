//! Networking shared by plugins: listeners for inputs (TCP, UDP, Unix
//! stream and datagram sockets, TLS), the upstream connection pools of
//! outputs, and the TLS settings every network plugin takes.

pub mod datagram;
pub mod listener;
pub mod reader;
pub mod stream;
pub mod tls;
pub mod tls_client;
pub mod upstream;
