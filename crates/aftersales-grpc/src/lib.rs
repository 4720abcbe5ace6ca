//! The KurrentDB (EventStoreDB) client protocol over gRPC, served from the
//! aftersales event store, so that the official clients append, read and
//! subscribe as they would against a KurrentDB node.
//!
//! - [`streams`]: `Streams.Append`, `Streams.BatchAppend` and `Streams.Read`
//!   (one stream or `$all`, either way, with filters, and as catch-up
//!   subscriptions); `Delete` and `Tombstone` answer `UNIMPLEMENTED`, since
//!   the log keeps every event;
//! - [`features`]: the `ServerFeatures.GetSupportedMethods` call;
//! - [`access`]: basic credentials checked by the binary's authenticator,
//!   and the categories no call may append to;
//! - [`convert`]: how the protocol's events map onto the store's.
//!
//! It needs only the store's contract, not the domain: events appended
//! here are ordinary events of the log, and the domain's events read here
//! like any other. `docs/kurrentdb-compatibility.md` lists what of the
//! protocol is served and what is not.

// `tonic::Status` is the protocol's error: handlers return it by value, as
// tonic's own generated code does.
#![allow(clippy::result_large_err)]

pub mod access;
pub mod convert;
pub mod features;
mod filter;
pub mod streams;

use std::sync::Arc;

pub use access::{Access, AuthUnavailable, Authenticate, Permissions};
use aftersales_store::EventStore;
use tonic::transport::{Identity, Server, ServerTlsConfig};

/// The code generated from `proto/`, in the protocol's own packages.
#[allow(missing_debug_implementations, clippy::all, clippy::pedantic)]
pub mod proto {
    pub mod event_store {
        pub mod client {
            tonic::include_proto!("event_store.client");
            pub mod streams {
                tonic::include_proto!("event_store.client.streams");
            }
            pub mod server_features {
                tonic::include_proto!("event_store.client.server_features");
            }
        }
    }
    pub mod google {
        pub mod rpc {
            tonic::include_proto!("google.rpc");
        }
    }
}

/// Bounds on what one call may ask.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest total of data and metadata bytes one append may carry, as
    /// KurrentDB's `MaxAppendSize` (1 MiB by default there too).
    pub max_append_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_append_bytes: 1024 * 1024,
        }
    }
}

/// A certificate chain and private key, both PEM, for TLS.
#[derive(Debug, Clone)]
pub struct Tls {
    pub certificate_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
}

/// Why the endpoint could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum GrpcError {
    #[error("the gRPC endpoint failed: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// Serves the protocol on `listener` until `shutdown` completes.
pub async fn serve(
    store: Arc<dyn EventStore>,
    listener: tokio::net::TcpListener,
    tls: Option<Tls>,
    limits: Limits,
    access: Access,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> Result<(), GrpcError> {
    let mut server = Server::builder();
    if let Some(tls) = tls {
        let identity = Identity::from_pem(tls.certificate_pem, tls.key_pem);
        server = server.tls_config(ServerTlsConfig::new().identity(identity))?;
    }
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    server
        .add_service(streams::server(store, limits, access))
        .add_service(features::server())
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await?;
    Ok(())
}
