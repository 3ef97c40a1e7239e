//! Benchmark helper (used by bench/run): fills DATABASE with N provisions that expired a day
//! ago, in one organization, so the sweep's speed can be measured on a known backlog.
//!
//!     cargo run --release --example seed_expired -- DATABASE N

use provisiond::clock::Clock;
use provisiond::db::Db;
use provisiond::domain::{Email, ProvisionRole};
use provisiond::ops::{self, NewOrg, ProvisionSettings};
use std::time::Duration;

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(path), Some(n)) = (args.get(1), args.get(2).and_then(|n| n.parse::<usize>().ok())) else {
        return Err("usage: seed_expired DATABASE N".into());
    };
    let db = Db::open(std::path::Path::new(path))?;
    let now = Clock::default().now();
    let created = now - 8 * 86_400_000;
    let new = NewOrg {
        name: "Backlog".into(),
        domain: None,
        owner_email: Email::parse("backlog@example.com")?,
        provisioner: false,
        credits: None,
    };
    let owner = db.write_blocking(|tx| ops::create_org(tx, "oc_", &new, now)).map_err(|e| e.to_string())?;
    let settings = ProvisionSettings { key_prefix: "oc_", ttl: Duration::from_secs(7 * 86_400) };
    let mut left = n;
    while left > 0 {
        let chunk = left.min(5_000);
        db.write_blocking(|tx| {
            for _ in 0..chunk {
                ops::provision(
                    tx,
                    &owner.org_id,
                    &owner.user_id,
                    ProvisionRole::Member,
                    true,
                    &settings,
                    created,
                )?;
            }
            Ok(())
        })
        .map_err(|e| e.to_string())?;
        left -= chunk;
    }
    println!("{n} expired provisions in {path}");
    println!("owner key: {}", owner.api_key);
    Ok(())
}
