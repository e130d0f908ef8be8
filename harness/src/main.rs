//! The `hvharness` binary: parses the command line and runs it (see `hvharness::cli`).

use std::process::ExitCode;

use clap::Parser;
use hvharness::cli::{dispatch, Cli, EXIT_ENV};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("hvharness: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_ENV);
        }
    };
    match rt.block_on(dispatch(cli)) {
        Ok(code) => code,
        Err(e) => {
            if hvharness::qemu::process::interrupted() {
                // The signal handler is cleaning up and exits with 130/143;
                // dropping the runtime now would cut it short.
                std::thread::sleep(std::time::Duration::from_secs(60));
            }
            eprintln!("hvharness: error: {e:#}");
            ExitCode::from(EXIT_ENV)
        }
    }
}
