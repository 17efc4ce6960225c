//! `nocas-bench`: a load generator for any Nacos-compatible server (Nocas
//! or a peer such as r-nacos), by address, over loopback.
//!
//! Scenarios: `register` (HTTP v1 and gRPC), `list` (HTTP v1 and gRPC
//! `ServiceQueryRequest`), `config-get` (HTTP v1 and gRPC
//! `ConfigQueryRequest`), `publish`, `push` (naming push fan-out to S
//! subscribers), `listen` (config change fan-out to S listeners),
//! `footprint` (server RSS idle and at 10k/100k/1M instances, and with
//! configs), `startup` (time to first answer, idle RSS), `connections`
//! (memory per connection), `curve` (register, list, config get and push
//! at 1/10/100 keys × 1/10/100 load), `ceiling` (any URL, for a bare server started
//! with `hello`), `suite` (all client scenarios; `--smoke` for a tiny run)
//! and `report` (the side-by-side table from result files).
//!
//! Every scenario prints markdown tables and can write JSON (`--json`).
//! Runs are bounded in time and count; the tool raises its own open-files
//! limit.
//!
//! Modules: `load` (the closed-loop driver), `http` and `client` (lean
//! HTTP/1.1 and gRPC clients), `scenarios`, `report`, `stats`.
//!
//! Architecture invariant: talks to servers only over their public
//! protocols; no server internals.

pub mod ceiling;
mod client;
pub mod curve;
mod http;
pub mod load;
pub mod report;
pub mod scenarios;
pub mod soak;
mod stats;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::load::Limit;
use crate::report::{Report, Row, compare, markdown};
use crate::scenarios::{Target, Via};

/// The command line.
#[derive(Parser, Debug)]
#[command(
    name = "nocas-bench",
    about = "Load generator for Nacos-compatible servers"
)]
pub struct Cli {
    /// Server HTTP address; gRPC is HTTP port + 1000 unless --grpc is given.
    #[arg(long, default_value = "127.0.0.1:8848", global = true)]
    pub server: SocketAddr,
    /// Server gRPC address.
    #[arg(long, global = true)]
    pub grpc: Option<SocketAddr>,
    /// Label of the target in the JSON (`nocas`, `rnacos`, `ceiling`...).
    #[arg(long, default_value = "server", global = true)]
    pub label: String,
    /// Write results as JSON here.
    #[arg(long, global = true)]
    pub json: Option<PathBuf>,
    /// Concurrent workers (connections) of load scenarios.
    #[arg(long, default_value_t = 32, global = true)]
    pub workers: usize,
    /// Measured seconds of each load run.
    #[arg(long, default_value_t = 5.0, global = true)]
    pub seconds: f64,
    /// Warm-up milliseconds before each load run.
    #[arg(long, default_value_t = 500, global = true)]
    pub warmup_ms: u64,
    /// Most operations of each load run (default: as many as fit).
    #[arg(long, global = true)]
    pub count: Option<u64>,
    /// What to run.
    #[command(subcommand)]
    pub scenario: Scenario,
}

/// The scenarios.
#[derive(Subcommand, Debug)]
pub enum Scenario {
    /// Register new instances.
    Register {
        /// Protocols.
        #[arg(long, value_delimiter = ',', default_value = "http,grpc")]
        via: Vec<Via>,
    },
    /// List the instances of one service.
    List {
        /// Protocols.
        #[arg(long, value_delimiter = ',', default_value = "http,grpc")]
        via: Vec<Via>,
        /// Instances in the service.
        #[arg(long, default_value_t = 10)]
        instances: usize,
    },
    /// Get one config.
    ConfigGet {
        /// Protocols.
        #[arg(long, value_delimiter = ',', default_value = "http,grpc")]
        via: Vec<Via>,
        /// Content size in bytes.
        #[arg(long, default_value_t = 1024)]
        size: usize,
    },
    /// Publish new configs (durable writes).
    Publish {
        /// Protocols.
        #[arg(long, value_delimiter = ',', default_value = "grpc")]
        via: Vec<Via>,
        /// Content size in bytes.
        #[arg(long, default_value_t = 256)]
        size: usize,
    },
    /// Naming push fan-out.
    Push {
        /// Subscriber counts, comma separated.
        #[arg(long, value_delimiter = ',', default_value = "1,1000")]
        subscribers: Vec<usize>,
        /// Changes timed per count.
        #[arg(long, default_value_t = 20)]
        rounds: usize,
        /// Longest wait for one round (ms).
        #[arg(long, default_value_t = 10_000)]
        round_timeout_ms: u64,
    },
    /// Config change fan-out.
    Listen {
        /// Listener counts, comma separated.
        #[arg(long, value_delimiter = ',', default_value = "1,1000")]
        listeners: Vec<usize>,
        /// Changes timed per count.
        #[arg(long, default_value_t = 20)]
        rounds: usize,
        /// Longest wait for one round (ms).
        #[arg(long, default_value_t = 10_000)]
        round_timeout_ms: u64,
    },
    /// Server RSS idle, at instance counts, and with configs.
    Footprint {
        /// Server process id (for /proc/PID/status).
        #[arg(long)]
        pid: u32,
        /// Instance counts, comma separated (cumulative).
        #[arg(long, value_delimiter = ',', default_value = "10000,100000,1000000")]
        instances: Vec<usize>,
        /// Configs published after the instances (0: none).
        #[arg(long, default_value_t = 0)]
        configs: usize,
        /// Connections owning the instances.
        #[arg(long, default_value_t = 16)]
        conns: usize,
    },
    /// Fill a server for the scale measurements: configs published
    /// `--versions` times each over gRPC, then persistent instances over
    /// HTTP (1,000 per service). Fails unless every write succeeds.
    Fill {
        /// Configs.
        #[arg(long, default_value_t = 10_000)]
        configs: usize,
        /// Publishes of each (history records each).
        #[arg(long, default_value_t = 10)]
        versions: usize,
        /// Content size in bytes.
        #[arg(long, default_value_t = 4096)]
        size: usize,
        /// Persistent instances.
        #[arg(long, default_value_t = 0)]
        instances: usize,
        /// Name prefix (data ids `PREFIX-N`, group SCALE).
        #[arg(long, default_value = "scale")]
        prefix: String,
    },
    /// Time from start to first answer, and idle RSS, of a server command
    /// (`{dir}` in it becomes a fresh directory each run).
    Startup {
        /// Runs.
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// The command and its arguments.
        #[arg(trailing_var_arg = true, required = true)]
        cmd: Vec<String>,
    },
    /// Server memory per gRPC connection.
    Connections {
        /// Connections to open.
        #[arg(long, default_value_t = 5000)]
        connections: usize,
        /// Server process id.
        #[arg(long)]
        pid: u32,
    },
    /// HTTP GET load on a path of any server (the ceiling).
    Ceiling {
        /// Path to get.
        #[arg(long, default_value = "/")]
        path: String,
    },
    /// Serve a bare axum hello-world (the ceiling target) on --server.
    Hello {
        /// Body size.
        #[arg(long, default_value_t = 1024)]
        size: usize,
    },
    /// Serve the ceiling server (HTTP on --server, gRPC on --grpc or
    /// HTTP port + 1000): the least any server must do per scenario; run
    /// the client scenarios against it with `--label ceiling`.
    CeilingServer {
        /// Body size of any other HTTP path (the hello-world).
        #[arg(long, default_value_t = 1024)]
        size: usize,
        /// Make publishes durable here before answering them (group
        /// commit into redb, fsynced): the durable-publish ceiling.
        #[arg(long)]
        durable_dir: Option<PathBuf>,
    },
    /// The durable-publish ceiling: values of --size bytes committed in
    /// batches of --batch per fsync into a fresh redb database in --dir.
    RedbPublish {
        /// Directory for the database (on the file system a server would
        /// use).
        #[arg(long)]
        dir: PathBuf,
        /// Values per commit, comma separated (the batch sizes a server's
        /// group commit forms: `nocas_raft_batch_commands`).
        #[arg(long, value_delimiter = ',', default_value = "1,32")]
        batch: Vec<usize>,
        /// Value size in bytes.
        #[arg(long, default_value_t = 256)]
        size: usize,
    },
    /// How register, list, config get and push grow with the keys (services
    /// or configs) a load is spread over and with the load (gRPC).
    Curve {
        /// Services / configs, comma separated.
        #[arg(long, value_delimiter = ',', default_value = "1,10,100")]
        keys: Vec<usize>,
        /// Load multipliers, comma separated.
        #[arg(long, value_delimiter = ',', default_value = "1,10,100")]
        loads: Vec<usize>,
        /// Closed-loop workers at load ×1.
        #[arg(long, default_value_t = 4)]
        base_workers: usize,
        /// Push subscriber connections at load ×1.
        #[arg(long, default_value_t = 10)]
        base_subscribers: usize,
        /// Push rounds per point.
        #[arg(long, default_value_t = 5)]
        rounds: usize,
        /// Longest wait for one push round (ms).
        #[arg(long, default_value_t = 15_000)]
        round_timeout_ms: u64,
    },
    /// Every client scenario in turn.
    Suite {
        /// A tiny, quick run (checks the tool, measures nothing).
        #[arg(long)]
        smoke: bool,
        /// Server process id: adds footprint and connections.
        #[arg(long)]
        pid: Option<u32>,
    },
    /// Long churn against running servers, sampled every minute into a
    /// CSV and an SVG plot; fails unless memory, open files, tasks and
    /// push latency stay flat.
    Soak {
        /// HTTP addresses of the servers (gRPC = HTTP port + 1000).
        #[arg(long, value_delimiter = ',', required = true)]
        servers: Vec<SocketAddr>,
        /// Their process ids, same order.
        #[arg(long, value_delimiter = ',', required = true)]
        pids: Vec<u32>,
        /// Minutes to run.
        #[arg(long, default_value_t = 30)]
        minutes: u64,
        /// Churning gRPC clients kept per server.
        #[arg(long, default_value_t = 100)]
        clients: usize,
        /// CSV output.
        #[arg(long, default_value = "soak.csv")]
        csv: PathBuf,
        /// SVG plot output.
        #[arg(long, default_value = "soak.svg")]
        svg: PathBuf,
    },
    /// The side-by-side table from result files.
    Report {
        /// Label of ours.
        #[arg(long, default_value = "nocas")]
        ours: String,
        /// Label of the peer.
        #[arg(long, default_value = "rnacos")]
        peer: String,
        /// Label of the ceiling.
        #[arg(long, default_value = "ceiling")]
        ceiling_label: String,
        /// Result files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

/// What a run produced: the report (for JSON) and its markdown.
pub struct Output {
    /// The rows (empty for `report` and `hello`).
    pub report: Report,
    /// Markdown to print.
    pub markdown: String,
}

fn limit(cli: &Cli) -> Limit {
    Limit {
        count: cli.count,
        duration: Duration::from_secs_f64(cli.seconds.max(0.01)),
        warmup: Duration::from_millis(cli.warmup_ms),
    }
}

async fn suite(cli: &Cli, t: Target, smoke: bool, pid: Option<u32>) -> anyhow::Result<Vec<Row>> {
    let l = if smoke {
        Limit {
            count: Some(50),
            duration: Duration::from_secs(2),
            warmup: Duration::ZERO,
        }
    } else {
        limit(cli)
    };
    let workers = if smoke { 2 } else { cli.workers };
    let both = [Via::Http, Via::Grpc];
    let fan: &[usize] = if smoke { &[1, 5] } else { &[1, 1000, 10_000] };
    let rounds = if smoke { 2 } else { 20 };
    let wait = Duration::from_secs(10);
    let mut rows = Vec::new();
    rows.extend(scenarios::register(t, workers, l, &both).await?);
    rows.extend(scenarios::list(t, workers, l, &both, 10).await?);
    rows.extend(scenarios::config_get(t, workers, l, &both, 1024).await?);
    rows.extend(scenarios::publish(t, workers, l, &both, 256).await?);
    rows.extend(scenarios::push(t, fan, rounds, wait).await?);
    rows.extend(scenarios::listen(t, fan, rounds, wait).await?);
    if let Some(pid) = pid {
        let levels: &[usize] = if smoke {
            &[100, 1000]
        } else {
            &[10_000, 100_000, 1_000_000]
        };
        let configs = if smoke { 20 } else { 10_000 };
        rows.extend(scenarios::footprint(t, pid, levels, configs, 4).await?);
        rows.extend(scenarios::connections(t, if smoke { 10 } else { 5000 }, pid).await?);
    }
    Ok(rows)
}

/// Runs the command line; returns what to print and write.
pub async fn run(cli: Cli) -> anyhow::Result<Output> {
    scenarios::raise_nofile();
    let grpc = cli.grpc.unwrap_or_else(|| {
        let mut g = cli.server;
        g.set_port(cli.server.port().saturating_add(1000));
        g
    });
    let t = Target {
        http: cli.server,
        grpc,
    };
    let l = limit(&cli);
    let w = cli.workers;
    let wait = |ms: u64| Duration::from_millis(ms);
    let rows = match &cli.scenario {
        Scenario::Register { via } => scenarios::register(t, w, l, via).await?,
        Scenario::List { via, instances } => scenarios::list(t, w, l, via, *instances).await?,
        Scenario::ConfigGet { via, size } => scenarios::config_get(t, w, l, via, *size).await?,
        Scenario::Publish { via, size } => scenarios::publish(t, w, l, via, *size).await?,
        Scenario::Push {
            subscribers,
            rounds,
            round_timeout_ms,
        } => scenarios::push(t, subscribers, *rounds, wait(*round_timeout_ms)).await?,
        Scenario::Listen {
            listeners,
            rounds,
            round_timeout_ms,
        } => scenarios::listen(t, listeners, *rounds, wait(*round_timeout_ms)).await?,
        Scenario::Footprint {
            pid,
            instances,
            configs,
            conns,
        } => scenarios::footprint(t, *pid, instances, *configs, *conns).await?,
        Scenario::Fill {
            configs,
            versions,
            size,
            instances,
            prefix,
        } => {
            scenarios::fill(
                t,
                cli.workers,
                prefix,
                *configs,
                *versions,
                *size,
                *instances,
            )
            .await?
        }
        Scenario::Startup { runs, cmd } => scenarios::startup(cmd, t.http, *runs).await?,
        Scenario::Connections { connections, pid } => {
            scenarios::connections(t, *connections, *pid).await?
        }
        Scenario::Ceiling { path } => scenarios::ceiling(t, path, w, l).await,
        Scenario::Hello { size } => {
            scenarios::hello(t.http, *size).await?;
            Vec::new()
        }
        Scenario::CeilingServer { size, durable_dir } => {
            ceiling::serve(t.http, t.grpc, *size, durable_dir.as_deref()).await?;
            Vec::new()
        }
        Scenario::RedbPublish { dir, batch, size } => {
            let mut rows: Vec<Row> = Vec::new();
            for b in batch {
                let (dir, b, size, secs) = (dir.clone(), *b, *size, cli.seconds);
                rows.push(
                    tokio::task::spawn_blocking(move || ceiling::redb_publish(&dir, b, size, secs))
                        .await??,
                );
            }
            // One batch size is the ceiling of `publish`; several are a
            // curve, one variant each.
            if rows.len() > 1 {
                for r in &mut rows {
                    r.variant = format!("redb B={}", r.get("batch").unwrap_or(0.0));
                }
            }
            rows
        }
        Scenario::Curve {
            keys,
            loads,
            base_workers,
            base_subscribers,
            rounds,
            round_timeout_ms,
        } => {
            let spec = curve::CurveSpec {
                keys: keys.clone(),
                loads: loads.clone(),
                base_workers: *base_workers,
                base_subscribers: *base_subscribers,
                rounds: *rounds,
                round_timeout: wait(*round_timeout_ms),
            };
            curve::curves(t, &spec, l).await?
        }
        Scenario::Suite { smoke, pid } => suite(&cli, t, *smoke, *pid).await?,
        Scenario::Soak {
            servers,
            pids,
            minutes,
            clients,
            csv,
            svg,
        } => {
            anyhow::ensure!(
                servers.len() == pids.len(),
                "--servers and --pids must list the same number of servers"
            );
            let target = soak::SoakTarget {
                http: servers.clone(),
                grpc: servers
                    .iter()
                    .map(|a| SocketAddr::new(a.ip(), a.port().saturating_add(1000)))
                    .collect(),
                pids: pids.clone(),
            };
            let (samples, fails) = soak::run(&target, *minutes, *clients, csv, svg).await?;
            let mut md = format!(
                "soak: {} minutes, {} servers, {} churning clients each; {} samples in {} and {}\n",
                minutes,
                servers.len(),
                clients,
                samples.len(),
                csv.display(),
                svg.display()
            );
            if fails.is_empty() {
                md.push_str("RESULT: FLAT (pass)\n");
            } else {
                for f in &fails {
                    md.push_str(&format!("- {f}\n"));
                }
                md.push_str("RESULT: NOT FLAT (fail)\n");
            }
            println!("{md}");
            anyhow::ensure!(fails.is_empty(), "the soak was not flat");
            return Ok(Output {
                report: Report {
                    tool: "nocas-bench".into(),
                    label: "soak".into(),
                    server: String::new(),
                    rows: Vec::new(),
                },
                markdown: String::new(),
            });
        }
        Scenario::Report {
            ours,
            peer,
            ceiling_label,
            files,
        } => {
            let mut reports = Vec::new();
            for f in files {
                let text =
                    std::fs::read_to_string(f).with_context(|| format!("read {}", f.display()))?;
                reports.push(
                    serde_json::from_str::<Report>(&text)
                        .with_context(|| format!("parse {}", f.display()))?,
                );
            }
            return Ok(Output {
                report: Report {
                    tool: "nocas-bench".into(),
                    label: "report".into(),
                    server: String::new(),
                    rows: Vec::new(),
                },
                markdown: compare(&reports, ours, peer, ceiling_label),
            });
        }
    };
    let report = Report {
        tool: "nocas-bench".into(),
        label: cli.label.clone(),
        server: cli.server.to_string(),
        rows,
    };
    if let Some(path) = &cli.json {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("write {}", path.display()))?;
    }
    let markdown = markdown(&report.rows);
    Ok(Output { report, markdown })
}

#[cfg(test)]
mod tests {
    #[test]
    fn command_line_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
