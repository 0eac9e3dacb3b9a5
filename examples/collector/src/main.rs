//! `omnitrail-collector`: parses flags / env vars, binds, prints exactly one line
//! `listening on http://ADDR` to stdout, then serves until SIGINT/SIGTERM. Logs go to stderr.
//!
//! Must never: print anything else to stdout (test harnesses parse that line), or contain
//! server logic (that lives in the library, where tests reach it).

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use omnitrail_collector::config::Cli;
use omnitrail_collector::server::{shutdown_signal, Collector};
use omnitrail_collector::{fields, log};

#[tokio::main]
async fn main() -> ExitCode {
    let config = match Cli::parse().into_config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("omnitrail-collector: {e}");
            return ExitCode::from(2);
        }
    };
    // Many connections must hit the connection limits (which shed cleanly), not EMFILE.
    match omnitrail_collector::conn_limits::raise_nofile_limit() {
        Ok((before, after)) if after != before && config.logging => {
            log::info("raised the open-file limit", fields! {"from" => before, "to" => after})
        }
        Ok(_) => {}
        Err(e) if config.logging => log::warn("cannot raise the open-file limit", fields! {"error" => e.to_string()}),
        Err(_) => {}
    }
    let keys: Vec<String> = config.write_keys.iter().map(|k| k.key.clone()).collect();
    let (store, test_control) = (config.store.display(), config.test_control);
    let collector = match Collector::bind(config).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("omnitrail-collector: {e}");
            return ExitCode::FAILURE;
        }
    };
    let addr = collector.local_addr();
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening on http://{addr}");
        let _ = out.flush();
    }
    log::info(
        "started",
        fields! {"addr" => addr.to_string(), "store" => store, "writeKeys" => keys, "testControl" => test_control},
    );
    collector.run(shutdown_signal()).await;
    ExitCode::SUCCESS
}
