//! Networking shared by plugins: listeners for inputs (TCP, UDP, Unix
//! sockets, TLS) and the TLS settings every network plugin takes.

pub mod listener;
pub mod reader;
pub mod stream;
pub mod tls;
