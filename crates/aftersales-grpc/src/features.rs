//! `ServerFeatures.GetSupportedMethods`: the methods this endpoint serves,
//! so that clients which ask on connect (the Node.js client does) use only
//! those.

use tonic::{Request, Response, Status};

use crate::proto::event_store::client::server_features::server_features_server::{
    ServerFeatures, ServerFeaturesServer,
};
use crate::proto::event_store::client::server_features::{SupportedMethod, SupportedMethods};
use crate::proto::event_store::client::Empty;

/// The KurrentDB version whose client protocol this endpoint follows; clients
/// pick features by it.
pub const COMPATIBLE_SERVER_VERSION: &str = "24.10.0";

const STREAMS: &str = "event_store.client.streams.streams";

/// (method, features) served by the Streams service.
const METHODS: &[(&str, &[&str])] = &[
    ("read", &["position", "events", "all", "stream"]),
    ("append", &[]),
    ("batchappend", &[]),
];

#[derive(Debug, Default)]
pub struct Features;

pub fn server() -> ServerFeaturesServer<Features> {
    ServerFeaturesServer::new(Features)
}

#[tonic::async_trait]
impl ServerFeatures for Features {
    async fn get_supported_methods(
        &self,
        _: Request<Empty>,
    ) -> Result<Response<SupportedMethods>, Status> {
        let mut methods: Vec<SupportedMethod> = METHODS
            .iter()
            .map(|(name, features)| SupportedMethod {
                method_name: (*name).to_owned(),
                service_name: STREAMS.to_owned(),
                features: features.iter().map(|f| (*f).to_owned()).collect(),
            })
            .collect();
        methods.push(SupportedMethod {
            method_name: "getsupportedmethods".to_owned(),
            service_name: "event_store.client.server_features.serverfeatures".to_owned(),
            features: Vec::new(),
        });
        Ok(Response::new(SupportedMethods {
            methods,
            event_store_server_version: COMPATIBLE_SERVER_VERSION.to_owned(),
        }))
    }
}
