//! `runnel token create`: signs a bearer token (JWT) offline with the server's HS256 secret
//! or an RS256 private key. Tokens are self-contained (the server keeps no list of them), so
//! they cannot be revoked before they expire: keep `--expires` short.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use runnel_auth::token::{Claims, Signer};

use crate::{Global, Output};

/// `runnel token ...`.
#[derive(Debug, clap::Subcommand)]
pub enum TokenCommand {
    /// Signs a token for a principal with its grants and prints it.
    Create(CreateArgs),
}

/// Arguments of `runnel token create`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("key").required(true).args(["secret_file", "private_key"])))]
pub struct CreateArgs {
    /// Who the token is for (its `sub` claim).
    #[arg(long)]
    pub subject: String,
    /// A grant, repeatable: `superuser`, `admin:TENANT[/NS[/TOPIC]]`, `produce:T/NS/TOPIC`,
    /// `consume:T/NS/TOPIC`, `schema-read:TENANT[:SUBJECT-PATTERN]`, `schema-write:...`;
    /// `*` is a wildcard within a segment.
    #[arg(long = "role", value_name = "GRANT")]
    pub roles: Vec<String>,
    /// How long the token is good for: `90s`, `15m`, `1h`, `7d`.
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    pub expires: Duration,
    /// The HS256 shared secret the server verifies with (`serve --auth-secret-file`).
    #[arg(long)]
    pub secret_file: Option<PathBuf>,
    /// An RSA private key (PEM) whose public key the server holds (`serve --auth-public-key`).
    #[arg(long)]
    pub private_key: Option<PathBuf>,
}

/// `90s`, `15m`, `1h`, `7d` (a bare number is seconds).
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let n: u64 = number.parse().map_err(|_| format!("'{s}' is not a duration like 90s, 15m, 1h or 7d"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        "d" => n.saturating_mul(86_400),
        _ => return Err(format!("'{s}': the unit must be s, m, h or d")),
    };
    if secs == 0 {
        return Err("a token must be good for at least one second".to_owned());
    }
    Ok(Duration::from_secs(secs))
}

/// Runs one `runnel token` subcommand.
pub fn run(global: &Global, command: TokenCommand) -> anyhow::Result<()> {
    match command {
        TokenCommand::Create(args) => create(global, args),
    }
}

fn create(global: &Global, args: CreateArgs) -> anyhow::Result<()> {
    let signer = match (&args.secret_file, &args.private_key) {
        (Some(path), _) => Signer::from_secret_file(path),
        (None, Some(path)) => Signer::from_private_key_file(path),
        (None, None) => unreachable!("clap requires one key"),
    }
    .context("cannot load the signing key")?;
    let claims = Claims::new(args.subject.clone(), args.roles.clone(), args.expires);
    let token = signer.sign(&claims).context("cannot create the token")?;
    if global.output == Output::Json {
        let out = serde_json::json!({
            "token": token,
            "subject": claims.sub,
            "roles": claims.roles,
            "expires_at": claims.exp,
        });
        println!("{out}");
    } else {
        println!("{token}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("15m").unwrap(), Duration::from_secs(900));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_duration("7d").unwrap(), Duration::from_secs(7 * 86_400));
        assert_eq!(parse_duration("30").unwrap(), Duration::from_secs(30));
        for bad in ["", "h", "1w", "-1h", "0s", "1.5h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
