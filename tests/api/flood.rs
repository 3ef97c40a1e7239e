//! Issue 10, finding 2: a flood of sign-ups and log-ins used to run one argon2 hash (~19 MiB)
//! per request on an unbounded thread pool (8.5 GB resident after a few seconds of 48 at once).
//! Now at most one hash per core runs; the rest wait in a short queue or get 503 at once. This
//! counts hashes in flight in the process (not time), and the password threads are the process's,
//! so each engine's copy runs in a process of its own (`alone::here`).

use crate::helpers::*;
use futures::future::join_all;
use reqwest::StatusCode;

engine_tests! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_flood_of_sign_ups_and_log_ins_hashes_at_most_one_password_per_core() {
        if !alone::here(module_path!()) {
            return;
        }
        assert_eq!(provisiond::passwords::peak_concurrency(), 0, "no hash ran in this process before the flood");
        let (app, _mail) = spawn_with_mail(|s| {
            s.login_rate_limit = 0;
            s.workers = 4;
        })
        .await;
        app.org_with_password("Acme", "owner@acme.com", "owner password");
        let cores = std::thread::available_parallelism().unwrap().get();

        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let requests = (0..96).map(|i| {
            let client = client.clone();
            let base = app.base.clone();
            async move {
                let (path, form) = if i % 2 == 0 {
                    (
                        "/login",
                        vec![
                            ("email".to_string(), "owner@acme.com".to_string()),
                            ("password".into(), format!("guess {i}")),
                        ],
                    )
                } else {
                    (
                        "/signup",
                        vec![
                            ("email".to_string(), format!("u{i}@flood.test")),
                            ("password".into(), "flood password".into()),
                        ],
                    )
                };
                let r = client.post(format!("{base}{path}")).form(&form).send().await.unwrap();
                let retry = r.headers().get("retry-after").is_some();
                (r.status(), retry)
            }
        });
        let answers = join_all(requests).await;

        let peak = provisiond::passwords::peak_concurrency();
        assert!(peak <= cores, "{peak} hashes ran at once on {cores} cores");
        assert!(peak >= cores.min(2), "the flood hashed in parallel: peak {peak}");
        let busy: Vec<_> = answers.iter().filter(|(s, _)| *s == StatusCode::SERVICE_UNAVAILABLE).collect();
        assert!(!busy.is_empty(), "96 at once overflow the queue: some are told to come back");
        assert!(busy.iter().all(|(_, retry)| *retry), "busy answers say when to retry");
        for (status, _) in &answers {
            assert!(
                matches!(status.as_u16(), 200 | 401 | 503),
                "every answer is 'check your email' (a sign-up), a refusal or busy: {status}"
            );
        }
        // Busy answers were not half-done: every account that exists was answered 200 (open
        // sign-up says to check the mail; log-ins here only fail).
        let made = answers.iter().filter(|(s, _)| *s == StatusCode::OK).count() as i64;
        assert_eq!(app.count("SELECT COUNT(*) FROM users WHERE email LIKE ?1", "%@flood.test"), made);
        // And the server still answers at once.
        let (s, _) = app.call(reqwest::Method::GET, "/healthz", None, None).await;
        assert_eq!(s, StatusCode::OK);
    }
}
