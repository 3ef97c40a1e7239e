//! Outgoing mail (verification and password-reset links) over SMTP with lettre, on a thread of
//! its own: a request never waits for a mail server, and what a request asks to be mailed is
//! worked out on that thread too, so "is there an account at this address?" cannot be read off
//! how long the answer took.

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::{Message, SmtpTransport, Transport};
use std::sync::mpsc;
use std::time::Duration;

/// One mail to send.
pub struct Outgoing {
    pub to: String,
    pub subject: String,
    pub body: String,
}

/// Work for the mail thread: finds out what (if anything) to send, then it is sent.
pub type MailJob = Box<dyn FnOnce() -> Option<Outgoing> + Send>;

/// Mail jobs waiting; beyond this a job is dropped (and logged): a flood of reset requests must
/// not grow memory, and the person can ask again.
const QUEUE: usize = 256;

/// How long one conversation with the mail server may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Clone)]
pub struct Mailer {
    queue: Option<mpsc::SyncSender<MailJob>>,
}

impl Mailer {
    /// No SMTP configured: pages say so, and nothing is sent.
    pub fn disabled() -> Mailer {
        Mailer { queue: None }
    }

    /// Checks the settings and starts the mail thread. The error never repeats the URL, which
    /// may hold a password.
    pub fn start(smtp_url: &str, from: &str) -> Result<Mailer, String> {
        let from: Mailbox = from.parse().map_err(|e| {
            format!("MAIL_FROM is not an address like 'provisiond <noreply@example.com>' ({e})")
        })?;
        let transport = SmtpTransport::from_url(smtp_url)
            .map_err(|e| {
                format!(
                    "SMTP_URL is not usable ({e}); use smtp://host:25, smtp://user:pass@host:587?tls=required or smtps://user:pass@host:465"
                )
            })?
            .timeout(Some(SMTP_TIMEOUT))
            .build();
        let (queue, jobs) = mpsc::sync_channel::<MailJob>(QUEUE);
        std::thread::Builder::new()
            .name("mailer".into())
            .spawn(move || {
                for job in jobs {
                    if let Some(mail) = job() {
                        send(&transport, &from, mail);
                    }
                }
            })
            .map_err(|e| format!("cannot start the mail thread: {e}"))?;
        Ok(Mailer { queue: Some(queue) })
    }

    pub fn enabled(&self) -> bool {
        self.queue.is_some()
    }

    /// Queues `job` for the mail thread; false when mail is off or the queue is full.
    pub fn submit(&self, job: MailJob) -> bool {
        let Some(queue) = &self.queue else { return false };
        match queue.try_send(job) {
            Ok(()) => true,
            Err(_) => {
                log::warn!("mail queue full: a mail was dropped");
                false
            }
        }
    }
}

fn send(transport: &SmtpTransport, from: &Mailbox, mail: Outgoing) {
    let to: Mailbox = match mail.to.parse() {
        Ok(to) => to,
        Err(e) => {
            log::warn!("mail not sent: the recipient address is not usable ({e})");
            return;
        }
    };
    let message = Message::builder()
        .from(from.clone())
        .to(to)
        .subject(mail.subject)
        .header(ContentType::TEXT_PLAIN)
        .body(mail.body);
    let message = match message {
        Ok(m) => m,
        Err(e) => {
            log::warn!("mail not sent: {e}");
            return;
        }
    };
    // The log names neither the recipient nor the link: the link is a credential.
    match transport.send(&message) {
        Ok(_) => log::info!("mail sent"),
        Err(e) => log::warn!("mail not sent: {e}"),
    }
}
