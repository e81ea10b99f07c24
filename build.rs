//! Rebuilds the crate when a migration is added: `sqlx::migrate!` embeds the `migrations`
//! directory at compile time, and cargo does not otherwise know to look there (a new
//! migration was once missing from a test build).

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
