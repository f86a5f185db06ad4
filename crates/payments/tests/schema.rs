//! The checked-in SDL (R-API-3) must match what the code prints; regenerate with
//! `./scripts/export-schema`.

#[test]
fn checked_in_sdl_matches_the_code() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schema/payments.graphql");
    let checked_in = std::fs::read_to_string(&path).expect("schema file");
    assert!(
        checked_in == payments::graphql::sdl(),
        "schema/payments.graphql drifted from the code: run ./scripts/export-schema and commit the result"
    );
}
