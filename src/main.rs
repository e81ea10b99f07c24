//! The `portal-accounts` binary: parses the command line and runs it.

use clap::Parser;
use portal_accounts::runtime::cli::{self, Cli};

/// mimalloc rather than the system allocator: a command allocates and frees many small
/// buffers across threads (HTTP, JSON, rows), and glibc's malloc was ≈ 20 % of the server's
/// CPU per command; with mimalloc the server spent 0.14 ms per rename instead of 0.16–0.19
/// (docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match cli::run(Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
