//! The payments GraphQL API (Federation v2). Resolvers are thin: actor from the context, one
//! service call, map the result. Guards sit on the entity types and their fields.

pub mod mutation;
pub mod query;
pub mod types;

use async_graphql::{EmptySubscription, Schema};
use service_core::subgraph::{build_schema, federation_sdl};

use crate::service::Payments;

pub type PaymentsSchema = Schema<query::Query, mutation::Mutation, EmptySubscription>;

pub fn build(service: Option<Payments>, development: bool) -> PaymentsSchema {
    build_schema(query::Query, mutation::Mutation, service, development)
}

/// The federation SDL printed by `payments schema` and checked in as `schema/payments.graphql`.
pub fn sdl() -> String {
    federation_sdl(&build(None, true))
}
