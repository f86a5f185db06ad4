//! The checked-in SDL (R-API-3) must match what the code prints; regenerate with
//! `./scripts/export-schema`.

#[test]
fn checked_in_sdl_matches_the_code() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schema/murchases.graphql");
    let checked_in = std::fs::read_to_string(&path).expect("schema file");
    assert!(
        checked_in == murchases::graphql::sdl(),
        "schema/murchases.graphql drifted from the code: run ./scripts/export-schema and commit the result"
    );
}
