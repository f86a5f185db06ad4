//! The murchases GraphQL API (Federation v2). Resolvers are thin: actor from the context, one
//! service call, map the result. Guards sit on the entity types and their fields.

pub mod mutation;
pub mod query;
pub mod types;

use async_graphql::{EmptySubscription, SDLExportOptions, Schema};

use crate::service::Murchases;

pub type MurchasesSchema = Schema<query::Query, mutation::Mutation, EmptySubscription>;

/// Limits that protect the subgraph from costly queries (R-BAD).
pub const MAX_DEPTH: usize = 12;
pub const MAX_COMPLEXITY: usize = 1000;

pub fn build(service: Option<Murchases>, development: bool) -> MurchasesSchema {
    let mut builder = Schema::build(query::Query, mutation::Mutation, EmptySubscription)
        .enable_federation()
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY);
    if !development {
        builder = builder.disable_introspection();
    }
    if let Some(service) = service {
        builder = builder.data(service);
    }
    builder.finish()
}

/// The federation SDL printed by `murchases schema` and checked in as `schema/murchases.graphql`.
pub fn sdl() -> String {
    build(None, true).sdl_with_options(SDLExportOptions::new().federation().compose_directive())
}
