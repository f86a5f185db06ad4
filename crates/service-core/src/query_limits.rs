//! Query cost limits that follow what a query can return (R-TRUST-5, R-BAD).
//!
//! - List fields declare `complexity = "limit * child_complexity"`, so nesting pages multiplies
//!   (the schema's complexity limit is [`MAX_COMPLEXITY`]).
//! - `_entities` resolves each representation with the selection's whole cost, which the
//!   schema's own count takes once: [`RequestLimits`] caps the representations of one call at
//!   [`MAX_REPRESENTATIONS`] and multiplies the query's complexity by their number.
//! - `_service { sdl }` is for development, or for an identified caller (the router's own token)
//!   in production; the router itself reads the checked-in supergraph.
//! - Refusals carry a stable `extensions.code`: QUERY_TOO_COMPLEX, QUERY_TOO_DEEP,
//!   GRAPHQL_VALIDATION_FAILED (any other validation error), UNAUTHENTICATED (`_service`).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextValidation};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{ServerError, ServerResult, ValidationResult, Value, Variables};
use domain::permissions::Actor;

use crate::graphql::Development;

/// The schema's complexity limit: a dashboard page of 100 ledger entries with every field
/// costs about 2,600; three nested default pages (20 × 20 × 20 rows) cost 8,840 and are refused.
pub const MAX_COMPLEXITY: usize = 5_000;
/// The depth limit.
pub const MAX_DEPTH: usize = 12;
/// Representations one `_entities` call may carry (a router batch for a 100-row page needs at
/// most 100 distinct references).
pub const MAX_REPRESENTATIONS: usize = 100;

/// A GraphQL error with its code.
pub fn coded(message: impl Into<String>, code: &str) -> ServerError {
    let mut err = ServerError::new(message, None);
    let mut ext = async_graphql::ErrorExtensionValues::default();
    ext.set("code", code);
    err.extensions = Some(ext);
    err
}

/// The extension factory installed on both schemas.
pub struct RequestLimits;

impl ExtensionFactory for RequestLimits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(RequestLimitsExt { representations: AtomicUsize::new(0) })
    }
}

struct RequestLimitsExt {
    /// The largest `_entities` representation count in the request.
    representations: AtomicUsize,
}

/// What the root selections of a document ask for.
#[derive(Default)]
struct RootFields {
    service: bool,
    representations: usize,
}

/// How many items a list argument has once its variables are filled in.
fn count_list(value: &async_graphql_value::Value, variables: &Variables) -> usize {
    match value {
        async_graphql_value::Value::List(items) => items.len(),
        async_graphql_value::Value::Variable(name) => match variables.get(name) {
            Some(Value::List(items)) => items.len(),
            _ => 0,
        },
        _ => 0,
    }
}

fn scan(doc: &ExecutableDocument, set: &SelectionSet, variables: &Variables, out: &mut RootFields, depth: usize) {
    if depth > 8 {
        return;
    }
    for selection in &set.items {
        match &selection.node {
            Selection::Field(field) => match field.node.name.node.as_str() {
                "_service" => out.service = true,
                "_entities" => {
                    let n = field
                        .node
                        .arguments
                        .iter()
                        .filter(|(name, _)| name.node.as_str() == "representations")
                        .map(|(_, v)| count_list(&v.node, variables))
                        .sum::<usize>();
                    out.representations = out.representations.max(n);
                }
                _ => {}
            },
            Selection::InlineFragment(f) => scan(doc, &f.node.selection_set.node, variables, out, depth + 1),
            Selection::FragmentSpread(spread) => {
                if let Some(f) = doc.fragments.get(&spread.node.fragment_name.node) {
                    scan(doc, &f.node.selection_set.node, variables, out, depth + 1);
                }
            }
        }
    }
}

#[async_trait::async_trait]
impl Extension for RequestLimitsExt {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let doc = next.run(ctx, query, variables).await?;
        let mut root = RootFields::default();
        for (_, op) in doc.operations.iter() {
            // Variables the request leaves out take their declared defaults.
            let mut vars = variables.clone();
            for def in &op.node.variable_definitions {
                let name = &def.node.name.node;
                if !vars.contains_key(name)
                    && let Some(default) = &def.node.default_value
                {
                    vars.insert(name.clone(), default.node.clone());
                }
            }
            scan(&doc, &op.node.selection_set.node, &vars, &mut root, 0);
        }
        if root.representations > MAX_REPRESENTATIONS {
            return Err(coded(
                format!("_entities accepts at most {MAX_REPRESENTATIONS} representations per call"),
                "QUERY_TOO_COMPLEX",
            ));
        }
        self.representations.store(root.representations, Ordering::Relaxed);
        if root.service {
            let development = ctx.data_opt::<Development>().is_some_and(|d| d.0);
            let identified = ctx.data_opt::<Actor>().is_some_and(Actor::is_authenticated);
            if !development && !identified {
                return Err(coded("_service is served to identified callers only", "UNAUTHENTICATED"));
            }
        }
        Ok(doc)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let result = next.run(ctx).await.map_err(|errors| {
            errors
                .into_iter()
                .map(|mut e| {
                    let code = if e.message.starts_with("Query is too complex") {
                        "QUERY_TOO_COMPLEX"
                    } else if e.message.starts_with("Query is nested too deep") {
                        "QUERY_TOO_DEEP"
                    } else {
                        "GRAPHQL_VALIDATION_FAILED"
                    };
                    e.extensions.get_or_insert_with(Default::default).set("code", code);
                    e
                })
                .collect::<Vec<_>>()
        })?;
        let representations = self.representations.load(Ordering::Relaxed);
        if representations > 1 && result.complexity.saturating_mul(representations) > MAX_COMPLEXITY {
            return Err(vec![coded(
                format!(
                    "Query is too complex: {representations} representations x complexity {} exceeds {MAX_COMPLEXITY}",
                    result.complexity
                ),
                "QUERY_TOO_COMPLEX",
            )]);
        }
        Ok(result)
    }
}
