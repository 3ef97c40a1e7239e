//! Benchmark helper (run by hand, see docs/performance.md): times the team page's list at
//! scale. Fills DATABASE (a SQLite file, or a postgres:// URL) with N pending provisions
//! (default 100,000) in one organization of its own ("Scale"; a database seeded before is
//! reused), each with an address and an external id; then times what the page reads
//! (`service::team::page`: every tab's count and one page of 100) for the first page, a page
//! after it, a page 50,000 rows deep (keyset), and searches that find one row, eleven, and
//! every row. Prints the median of 5 runs of each, in milliseconds.
//!
//!     cargo run --release --example team_page -- DATABASE [N]

use provisiond::clock::Clock;
use provisiond::config::Settings;
use provisiond::db::{Db, DbSettings};
use provisiond::domain::{Email, Keyset, OrgId, ProvisionRole, UserId};
use provisiond::mail::Mailer;
use provisiond::service::organizations::{self, NewOrg};
use provisiond::service::provisioning::{self, ProvisionInput, ProvisionOptions};
use provisiond::service::team::{self, Tab};
use provisiond::service::{Actor, Ctx};
use std::time::Instant;

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let Some(path) = args.get(1) else { return Err("usage: team_page DATABASE [N]".into()) };
    let n = args.get(2).and_then(|n| n.parse::<usize>().ok()).unwrap_or(100_000);
    let postgres = path.starts_with("postgres");
    let settings = DbSettings {
        path: if postgres { Default::default() } else { path.into() },
        synchronous: Default::default(),
        url: postgres.then(|| path.clone()),
    };
    let db = Db::open(&settings, true)?;
    let mut settings = Settings::defaults();
    settings.provision_rate_limit = 0;
    let ctx = Ctx::new(db, Clock::default(), settings.rules(), Mailer::disabled());
    actix_web::rt::System::new().block_on(async {
        let new = NewOrg {
            name: "Scale".into(),
            domain: None,
            owner_email: Email::parse("scale@example.com")?,
            provisioner: false,
            credits: None,
        };
        // A database seeded by an earlier run is timed again as it is.
        let earlier = ctx
            .db
            .read(|c| {
                c.query_opt(
                    "SELECT o.id, p.created_by, COUNT(*) FROM organizations o JOIN provisions p ON p.org_id = o.id
                      WHERE o.name = 'Scale' GROUP BY o.id, p.created_by",
                    &[],
                    |r| Ok((r.get::<OrgId>(0)?, r.get::<UserId>(1)?, r.get::<i64>(2)?)),
                )
            })
            .await
            .map_err(|e| e.to_string())?;
        let (actor, mut made) = match earlier {
            Some((org, user, count)) => (Actor::person(user, org), count as usize),
            None => {
                let owner = organizations::create(&ctx, new).await.map_err(|e| e.to_string())?;
                (Actor::person(owner.user_id.clone(), owner.org_id.clone()), 0)
            }
        };
        let started = Instant::now();
        let client = Default::default();
        while made < n {
            let chunk = (n - made).min(5_000);
            // All at once, so the writer commits them in groups.
            let done = futures_util::future::join_all((made..made + chunk).map(|i| {
                let input = ProvisionInput { role: ProvisionRole::Member, skip_onboarding: true };
                let options = ProvisionOptions {
                    email: Some(format!("p{i}@acme.test")),
                    external_id: Some(format!("crm-{i:06}")),
                    ..Default::default()
                };
                provisioning::provision_with(&ctx, actor.clone(), &client, input, options, None)
            }))
            .await;
            if let Some(Err(e)) = done.into_iter().find(Result::is_err) {
                return Err(e.to_string());
            }
            made += chunk;
        }
        println!("{made} provisions ({:.1} s seeding)", started.elapsed().as_secs_f64());

        let time = |label: &'static str, search: Option<&'static str>, at: Keyset| {
            let (ctx, actor) = (ctx.clone(), actor.clone());
            async move {
                let mut runs = Vec::new();
                let mut shown = 0;
                for _ in 0..5 {
                    let t = Instant::now();
                    let page = team::page(&ctx, actor.clone(), Tab::Pending, search.map(str::to_string), at, 2)
                        .await
                        .map_err(|e| e.to_string())?;
                    runs.push(t.elapsed().as_secs_f64() * 1000.0);
                    shown = page.total;
                }
                runs.sort_by(f64::total_cmp);
                println!("{label:<40} {:>8.1} ms  ({shown} in the tab)", runs[2]);
                Ok::<_, String>(())
            }
        };
        // Where the second page and a deep page start: the sort keys of rows 100 and 50,000.
        let first = team::page(&ctx, actor.clone(), Tab::Pending, None, Keyset::First, 1)
            .await
            .map_err(|e| e.to_string())?;
        let key = |k: Option<String>| k.as_deref().and_then(Keyset::parse_key).unwrap_or((0, 0));
        let (t, r) = key(first.last_key);
        let mut deep = Keyset::After(t, r);
        for _ in 0..(n / 100).min(500).saturating_sub(1) {
            let p = team::page(&ctx, actor.clone(), Tab::Pending, None, deep, 2).await.map_err(|e| e.to_string())?;
            let (t, r) = key(p.last_key);
            deep = Keyset::After(t, r);
        }
        time("first page (counts + 100 rows)", None, Keyset::First).await?;
        time("second page (keyset)", None, Keyset::After(t, r)).await?;
        time("page 500 (keyset, 50,000 rows in)", None, deep).await?;
        time("search 'crm-004242' (1 row)", Some("crm-004242"), Keyset::First).await?;
        time("search 'p4242' (11 rows)", Some("p4242"), Keyset::First).await?;
        time("search 'acme' (every row)", Some("acme"), Keyset::First).await?;
        Ok(())
    })
}
