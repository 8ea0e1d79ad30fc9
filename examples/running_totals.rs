//! A long-running stateful function process: counts clicks per user and emits
//! each user's running total, effectively once. Start it as many times as you
//! like (the instances share `clicks` by key); kill any of them, or the server,
//! at any moment: every click yields exactly one total, and the totals count
//! right. Runs until Ctrl-C; a lost server is waited for and rejoined.
//!
//! ```text
//! runnel schema register clicks-value click.avsc   # the schemas of `Click` and `Total` below
//! runnel topic create clicks --partitions 4 && runnel topic create totals
//! cargo run --example running_totals
//! ```
//! Honours `RUNNEL_URL` (default `http://127.0.0.1:6650`) and
//! `TOTALS_GUARANTEE` (`effectively-once`, the default, or `at-least-once`).

use std::time::Duration;

use runnel::function::{Context, FunctionError, Guarantee};
use runnel::{Avro, Client};

/// One click of a user.
#[derive(Avro, Debug, Clone, PartialEq)]
#[avro(namespace = "com.example.fn")]
struct Click {
    user: String,
    n: i64,
}

/// The user's clicks so far, as of click `n`.
#[derive(Avro, Debug, Clone, PartialEq)]
#[avro(namespace = "com.example.fn")]
struct Total {
    user: String,
    n: i64,
    count: i64,
}

fn count(click: Click, ctx: &mut Context<'_>) -> Result<Option<Total>, FunctionError> {
    let mut counts = ctx.state::<String, i64>()?;
    let count = counts.get(&click.user)?.unwrap_or(0) + 1;
    counts.put(&click.user, &count);
    Ok(Some(Total { user: click.user, n: click.n, count }))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).init();
    let url = std::env::var("RUNNEL_URL").unwrap_or_else(|_| "http://127.0.0.1:6650".into());
    let guarantee = match std::env::var("TOTALS_GUARANTEE").as_deref() {
        Ok("at-least-once") => Guarantee::AtLeastOnce,
        _ => Guarantee::EffectivelyOnce,
    };
    let stop = tokio::signal::ctrl_c();
    tokio::pin!(stop);
    loop {
        let run = async {
            let client = Client::connect(url.clone()).await?;
            client
                .function::<Click, Total>("running-totals")
                .input("clicks")
                .output("totals")
                .state::<String, i64>()
                .guarantee(guarantee)
                .session_timeout(Duration::from_secs(3))
                .run(count)
                .await
        };
        tokio::select! {
            _ = &mut stop => return Ok(()),
            result = run => match result {
                Ok(()) => return Ok(()), // deleted
                Err(e @ runnel::ClientError::Function(_)) => return Err(e.into()), // cannot start: say why
                Err(e) => {
                    eprintln!("running-totals: {e}; starting again in 1 s");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            },
        }
    }
}
