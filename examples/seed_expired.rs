//! Benchmark helper (used by bench/run): fills DATABASE (a SQLite file, or a postgres:// URL)
//! with N provisions that expired a day ago, in one organization, so the sweep's speed can be
//! measured on a known backlog.
//!
//!     cargo run --release --example seed_expired -- DATABASE N

use provisiond::clock::Clock;
use provisiond::config::Settings;
use provisiond::db::{Db, DbSettings};
use provisiond::domain::{Email, ProvisionRole};
use provisiond::mail::Mailer;
use provisiond::service::organizations::{self, NewOrg};
use provisiond::service::provisioning::{self, ProvisionInput};
use provisiond::service::{Actor, Ctx};
use std::time::Duration;

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(path), Some(n)) = (args.get(1), args.get(2).and_then(|n| n.parse::<usize>().ok())) else {
        return Err("usage: seed_expired DATABASE N".into());
    };
    let postgres = path.starts_with("postgres");
    let settings = DbSettings {
        path: if postgres { Default::default() } else { path.into() },
        synchronous: Default::default(),
        url: postgres.then(|| path.clone()),
    };
    let db = Db::open(&settings, true)?;
    let mut settings = Settings::defaults();
    settings.provision_rate_limit = 0;
    let rules = settings.rules();
    let now = Ctx::new(db.clone(), Clock::default(), rules.clone(), Mailer::disabled());
    // Made eight days ago: a week's TTL ran out a day ago.
    let past =
        Ctx::new(db, Clock::default().behind(Duration::from_secs(8 * 86_400)), rules, Mailer::disabled());
    actix_web::rt::System::new().block_on(async {
        let new = NewOrg {
            name: "Backlog".into(),
            domain: None,
            owner_email: Email::parse("backlog@example.com")?,
            provisioner: false,
            credits: None,
        };
        let owner = organizations::create(&now, new).await.map_err(|e| e.to_string())?;
        let actor = Actor::person(owner.user_id.clone(), owner.org_id.clone());
        let client = Default::default();
        let mut left = n;
        while left > 0 {
            let chunk = left.min(5_000);
            // All at once, so the writer commits them in groups.
            let made = futures_util::future::join_all((0..chunk).map(|_| {
                let input = ProvisionInput { role: ProvisionRole::Member, skip_onboarding: true };
                provisioning::provision(&past, actor.clone(), &client, input)
            }))
            .await;
            if let Some(Err(e)) = made.into_iter().find(Result::is_err) {
                return Err(e.to_string());
            }
            left -= chunk;
        }
        println!("{n} expired provisions in {}", if postgres { "PostgreSQL" } else { path });
        println!("owner key: {}", owner.api_key);
        Ok(())
    })
}
