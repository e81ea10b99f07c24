//! A real SMTP server for tests, on 127.0.0.1: it speaks enough SMTP for lettre, keeps every
//! message it accepts, and can be told to refuse (a temporary 451) to test retries.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

#[derive(Debug, Clone)]
pub struct Mail {
    pub recipients: Vec<String>,
    /// The message as sent, transfer encoding undone (quoted-printable soft breaks and
    /// escapes), so links can be read out of it.
    pub text: String,
    pub raw: String,
}

impl Mail {
    pub fn header(&self, name: &str) -> Option<String> {
        let prefix = format!("{}:", name.to_ascii_lowercase());
        self.raw
            .lines()
            .take_while(|l| !l.is_empty())
            .find(|l| l.to_ascii_lowercase().starts_with(&prefix))
            .map(|l| l[prefix.len()..].trim().to_string())
    }

    /// The first link in the message.
    pub fn link(&self) -> String {
        let start = self.text.find("http://").expect("a link in the e-mail");
        self.text[start..]
            .chars()
            .take_while(|c| !c.is_whitespace() && !matches!(c, '"' | '<' | '>'))
            .collect()
    }

    /// The `token` query parameter of the message's link.
    pub fn token(&self) -> String {
        let link = self.link();
        let (_, token) = link.split_once("token=").expect("a token in the link");
        token.to_string()
    }
}

pub struct SmtpSink {
    pub addr: SocketAddr,
    mails: Arc<Mutex<Vec<Mail>>>,
    arrived: Arc<Notify>,
    refusing: Arc<AtomicBool>,
}

impl SmtpSink {
    pub async fn start() -> Self {
        Self::start_on(0).await
    }

    /// On a given port (to bring a "down" server up where the service expects it).
    pub async fn start_on(port: u16) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let sink = Self {
            addr: listener.local_addr().unwrap(),
            mails: Arc::default(),
            arrived: Arc::default(),
            refusing: Arc::default(),
        };
        let (mails, arrived, refusing) = (
            sink.mails.clone(),
            sink.arrived.clone(),
            sink.refusing.clone(),
        );
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (mails, arrived, refusing) = (mails.clone(), arrived.clone(), refusing.clone());
                tokio::spawn(async move {
                    let _ = session(stream, mails, arrived, refusing).await;
                });
            }
        });
        sink
    }

    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    /// Answer 451 (try again later) to every message from now on, or stop doing so.
    pub fn refuse(&self, refusing: bool) {
        self.refusing.store(refusing, Ordering::SeqCst);
    }

    pub fn mails_to(&self, address: &str) -> Vec<Mail> {
        self.mails
            .lock()
            .unwrap()
            .iter()
            .filter(|m| m.recipients.iter().any(|r| r.eq_ignore_ascii_case(address)))
            .cloned()
            .collect()
    }

    /// Waits until `count` messages to `address` have arrived; all of them.
    pub async fn wait_for(&self, address: &str, count: usize) -> Vec<Mail> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let arrived = self.arrived.notified();
            let mails = self.mails_to(address);
            if mails.len() >= count {
                return mails;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{count} e-mail(s) to {address} did not arrive (have {})",
                mails.len()
            );
            let _ = tokio::time::timeout(Duration::from_millis(200), arrived).await;
        }
    }
}

async fn session(
    stream: TcpStream,
    mails: Arc<Mutex<Vec<Mail>>>,
    arrived: Arc<Notify>,
    refusing: Arc<AtomicBool>,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 sink.test ESMTP\r\n").await?;
    let mut recipients = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let upper = line.trim_end().to_ascii_uppercase();
        let reply: &[u8] = if upper.starts_with("EHLO") {
            b"250-sink.test\r\n250 8BITMIME\r\n"
        } else if upper.starts_with("HELO") {
            b"250 sink.test\r\n"
        } else if upper.starts_with("MAIL FROM") {
            recipients.clear();
            if refusing.load(Ordering::SeqCst) {
                b"451 4.3.0 try again later\r\n"
            } else {
                b"250 OK\r\n"
            }
        } else if upper.starts_with("RCPT TO") {
            let address = line.trim_end()[8..]
                .trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_string();
            recipients.push(address);
            b"250 OK\r\n"
        } else if upper == "DATA" {
            write.write_all(b"354 end with .\r\n").await?;
            let mut raw = String::new();
            loop {
                line.clear();
                if lines.read_line(&mut line).await? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" || line == ".\n" {
                    break;
                }
                raw.push_str(
                    line.strip_prefix('.')
                        .filter(|_| line.starts_with(".."))
                        .unwrap_or(&line),
                );
            }
            let text = raw.replace("=\r\n", "").replace("=3D", "=");
            mails.lock().unwrap().push(Mail {
                recipients: recipients.clone(),
                text,
                raw,
            });
            arrived.notify_waiters();
            b"250 OK queued\r\n"
        } else if upper == "QUIT" {
            write.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else {
            b"250 OK\r\n"
        };
        write.write_all(reply).await?;
    }
}
