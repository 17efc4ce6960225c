//! The `nocas-bench` binary: see the library's docs.

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let out = nocas_bench::run(nocas_bench::Cli::parse()).await?;
    println!("{}", out.markdown);
    Ok(())
}
