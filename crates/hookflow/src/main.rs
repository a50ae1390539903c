//! The `hookflow` binary: command-line parsing and dispatch to the commands.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;

/// mimalloc: a request allocates many small JSON values, and glibc's malloc spent about a quarter
/// of the server's time under load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// hookflow: a self-hosted webhook flow engine.
#[derive(Debug, Parser)]
#[command(name = "hookflow", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check flow files and report every problem (exit 0 = valid, 1 = flow errors, 2 = could not run).
    Validate(cmd::validate::Args),
    /// Run one flow offline on a sample request and print the response and the node trace.
    Run(cmd::run::Args),
    /// Run the flows' test cases offline and report pass/fail (exit 0 = all passed, 1 = a case
    /// failed, 2 = could not run).
    Test(cmd::test::Args),
    /// Write test cases: a starter file from a flow's sample (`init`), or a case from a recorded
    /// execution (`capture`).
    Cases(cmd::cases::Args),
    /// Serve the flows' webhooks over HTTP until SIGINT or SIGTERM.
    Serve(cmd::serve::Args),
    /// Create, list, rotate and delete the credentials webhook routes require.
    Credentials(cmd::credentials::Args),
    /// List, show and replay executions through a running server's admin API (exit 0 = ok,
    /// 1 = the server refused, 2 = could not run).
    Executions(cmd::executions::Args),
    /// List, activate and deactivate the flows of a running server through its admin API (exit
    /// 0 = ok, 1 = the server refused, 2 = could not run).
    Flows(cmd::flows::Args),
    /// Create, list, change, test and delete outbound webhook subscriptions, and inspect and retry
    /// their deliveries, through a running server's admin API (exit 0 = ok, 1 = the server
    /// refused or a delivery attempt got no 2xx, 2 = could not run).
    Subscriptions(cmd::subscriptions::Args),
    /// List, read, delete and export the records `store` nodes write, through a running server's
    /// admin API (exit 0 = ok, 1 = the server refused, 2 = could not run).
    Records(cmd::records::Args),
    /// Print the route table with full public URLs, from the flow files, without a server
    /// (exit 0 = ok, 1 = some flows have errors, 2 = could not run).
    Routes(cmd::routes::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Validate(args) => cmd::validate::main(args),
        Command::Run(args) => cmd::run::main(args),
        Command::Test(args) => cmd::test::main(args),
        Command::Cases(args) => cmd::cases::main(args),
        Command::Serve(args) => cmd::serve::main(args),
        Command::Credentials(args) => cmd::credentials::main(args),
        Command::Executions(args) => cmd::executions::main(args),
        Command::Flows(args) => cmd::flows::main(args),
        Command::Routes(args) => cmd::routes::main(args),
        Command::Subscriptions(args) => cmd::subscriptions::main(args),
        Command::Records(args) => cmd::records::main(args),
    };
    ExitCode::from(code)
}
