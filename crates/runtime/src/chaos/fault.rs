//! The text of a fault: one line, the same in `FAULTS`, on the admin port
//! and on the command line (the grammar is in [`super`]), parsed into a
//! [`Fault`] and printed back the same.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use tonic::Code;

/// The steps of order-service's checkout saga a `crash after STEP` fault
/// may name (order-service's `saga::Step` holds its names equal to these).
/// Any other step is a parse error, never a fault that silently does nothing.
pub const CRASH_STEPS: [&str; 6] = [
    "order-created",
    "cart-read",
    "stock-requested",
    "reserved",
    "committed",
    "confirmed",
];

/// The steps of an event consumer (`crate::events::consumer`) a `crash
/// after STEP` fault may name: the handler ran but its transaction did not
/// commit (`event-handled`), or it committed but the message was never
/// acknowledged (`event-committed`). The consumer stops there, its
/// connection dropped, as if its process had died.
pub const CONSUMER_CRASH_STEPS: [&str; 2] = ["event-handled", "event-committed"];

/// What a fault does to the calls it hits.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// The call waits, `min` up to `max` (uniformly), then runs.
    Latency {
        /// Shortest wait.
        min: Duration,
        /// Longest wait.
        max: Duration,
    },
    /// The call answers this status without running (over REST, the
    /// status's HTTP mapping).
    Error(Code),
    /// The call is cut: the stream (gRPC) or connection (HTTP) is reset.
    Abort,
    /// Readiness and gRPC health report NOT_SERVING; calls still run.
    Unready,
    /// order-service's checkout stops right after this saga step, as if
    /// its process had crashed there, and recovery finishes the order; or
    /// an event consumer stops after this step of a message
    /// ([`CONSUMER_CRASH_STEPS`]) and the broker redelivers it.
    Crash(String),
    /// Each event the relay publishes on the subjects hit is followed by a
    /// copy that no consumer can read (a new id, a payload that does not
    /// decode): a poison message, which consumers dead-letter while the
    /// real event goes on.
    Poison,
}

/// Which calls a fault hits.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// Every call this component serves.
    Served(Option<String>),
    /// Calls this component makes to another.
    Calls(String),
}

/// One fault: its effect, the calls it hits, and the share of them.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    /// What happens.
    pub effect: Effect,
    /// To which calls.
    pub target: Target,
    /// Share of matching calls hit, in (0, 100].
    pub percent: f64,
}

/// A fault that does not parse, with what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("fault `{spec}`: {message}")]
pub struct ParseError {
    /// The text that did not parse.
    pub spec: String,
    /// Why.
    pub message: String,
}

/// The error codes a fault can answer, by their names in the text.
const CODES: [(&str, Code); 10] = [
    ("unavailable", Code::Unavailable),
    ("internal", Code::Internal),
    ("deadline_exceeded", Code::DeadlineExceeded),
    ("resource_exhausted", Code::ResourceExhausted),
    ("aborted", Code::Aborted),
    ("unknown", Code::Unknown),
    ("cancelled", Code::Cancelled),
    ("not_found", Code::NotFound),
    ("failed_precondition", Code::FailedPrecondition),
    ("permission_denied", Code::PermissionDenied),
];

pub(super) fn code_name(code: Code) -> &'static str {
    CODES
        .iter()
        .find(|(_, c)| *c == code)
        .map_or("unknown", |(name, _)| name)
}

/// `200ms`, `2s`.
fn parse_duration(text: &str) -> Option<Duration> {
    if let Some(ms) = text.strip_suffix("ms") {
        return ms.parse().ok().map(Duration::from_millis);
    }
    text.strip_suffix('s')?
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

fn millis(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

impl FromStr for Fault {
    type Err = ParseError;

    fn from_str(spec: &str) -> Result<Self, ParseError> {
        let fail = |message: &str| ParseError {
            spec: spec.trim().to_string(),
            message: message.to_string(),
        };
        let mut words: Vec<&str> = spec.split_whitespace().collect();
        // A trailing share: `20%`.
        let mut percent = 100.0;
        if let Some(last) = words.last()
            && let Some(number) = last.strip_suffix('%')
        {
            percent = number
                .parse::<f64>()
                .ok()
                .filter(|p| *p > 0.0 && *p <= 100.0)
                .ok_or_else(|| fail("the share must be a percentage above 0 and at most 100"))?;
            words.pop();
        }
        // A target: `on X` or `on calls to X`.
        let mut target = Target::Served(None);
        if let Some(on) = words.iter().position(|w| *w == "on") {
            target = match &words[on + 1..] {
                ["calls", "to", name] => Target::Calls((*name).to_string()),
                [name] => Target::Served(Some((*name).to_string())),
                _ => {
                    return Err(fail(
                        "write `on METHOD`, `on /route`, or `on calls to METHOD`",
                    ));
                }
            };
            words.truncate(on);
        }
        let effect = match words.as_slice() {
            ["latency", range] => {
                let (min, max) = match range.split_once("..") {
                    Some((min, max)) => (parse_duration(min), parse_duration(max)),
                    None => (parse_duration(range), parse_duration(range)),
                };
                match (min, max) {
                    (Some(min), Some(max)) if min <= max && max <= Duration::from_secs(60) => {
                        Effect::Latency { min, max }
                    }
                    _ => return Err(fail("latency is `200ms` or `50ms..400ms`, at most 60s")),
                }
            }
            ["error", name] => match CODES.iter().find(|(n, _)| n == name) {
                Some((_, code)) => Effect::Error(*code),
                None => {
                    let names: Vec<&str> = CODES.iter().map(|(n, _)| *n).collect();
                    return Err(fail(&format!(
                        "unknown status; one of {}",
                        names.join(", ")
                    )));
                }
            },
            ["abort"] => Effect::Abort,
            ["unready"] => Effect::Unready,
            ["crash", "after", step]
                if CRASH_STEPS.contains(step) || CONSUMER_CRASH_STEPS.contains(step) =>
            {
                Effect::Crash((*step).to_string())
            }
            ["crash", "after", _] => {
                return Err(fail(&format!(
                    "unknown saga or consumer step; one of {}, {}",
                    CRASH_STEPS.join(", "),
                    CONSUMER_CRASH_STEPS.join(", ")
                )));
            }
            ["poison"] => Effect::Poison,
            _ => {
                return Err(fail(
                    "expected `latency D[..D]`, `error STATUS`, `abort`, `unready`, `crash after STEP` \
                     or `poison`, \
                     then optionally `on TARGET` and a share such as `20%`",
                ));
            }
        };
        if matches!(effect, Effect::Unready | Effect::Crash(_)) && target != Target::Served(None) {
            return Err(fail("`unready` and `crash` take no target"));
        }
        if effect == Effect::Poison && !matches!(target, Target::Calls(_)) {
            return Err(fail(
                "`poison` hits the events this component publishes: `poison on calls to SUBJECT`",
            ));
        }
        Ok(Fault {
            effect,
            target,
            percent,
        })
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.effect {
            Effect::Latency { min, max } if min == max => write!(f, "latency {}", millis(*min))?,
            Effect::Latency { min, max } => {
                write!(f, "latency {}..{}", millis(*min), millis(*max))?
            }
            Effect::Error(code) => write!(f, "error {}", code_name(*code))?,
            Effect::Abort => f.write_str("abort")?,
            Effect::Unready => f.write_str("unready")?,
            Effect::Crash(step) => write!(f, "crash after {step}")?,
            Effect::Poison => f.write_str("poison")?,
        }
        match &self.target {
            Target::Served(None) => {}
            Target::Served(Some(name)) => write!(f, " on {name}")?,
            Target::Calls(name) => write!(f, " on calls to {name}")?,
        }
        if self.percent < 100.0 {
            write!(f, " {}%", self.percent)?;
        }
        Ok(())
    }
}

impl Fault {
    /// Whether this call is among the share the fault hits.
    pub(super) fn rolls(&self) -> bool {
        self.percent >= 100.0 || rand::random::<f64>() * 100.0 < self.percent
    }
}

/// Parses `;`-separated faults; blank parts are skipped.
pub fn parse_list(text: &str) -> Result<Vec<Fault>, ParseError> {
    text.split([';', '\n'])
        .filter(|part| !part.trim().is_empty())
        .map(str::parse)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_of_the_text_parses_and_prints_back_the_same() {
        for text in [
            "latency 200ms",
            "latency 50ms..400ms on GetProduct 20%",
            "error unavailable on GetCart 20%",
            "error internal on /api/v1/orders",
            "abort on calls to ReserveStock 5%",
            "unready",
            "crash after reserved",
            "crash after event-committed 30%",
            "poison on calls to shop.order.confirmed 20%",
            "abort on calls to /nats",
        ] {
            let fault: Fault = text.parse().unwrap();
            assert_eq!(fault.to_string(), text);
        }
    }

    #[test]
    fn a_bad_fault_is_refused_with_what_is_wrong() {
        for (text, wrong) in [
            ("latency fast", "latency is"),
            ("error teapot", "unknown status"),
            ("abort 0%", "percentage"),
            ("abort 150%", "percentage"),
            ("unready on GetProduct", "take no target"),
            ("explode", "expected"),
            ("latency 10ms on", "write `on METHOD`"),
            ("poison", "poison on calls to SUBJECT"),
            ("poison on GetProduct", "poison on calls to SUBJECT"),
        ] {
            let error = text.parse::<Fault>().unwrap_err();
            assert!(error.message.contains(wrong), "{text}: {error}");
            assert_eq!(error.spec, text);
        }
    }

    #[test]
    fn a_list_separates_faults_by_semicolons() {
        let list = parse_list("latency 10ms; error internal on GetCart ;").unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[1].to_string(), "error internal on GetCart");
    }

    #[test]
    fn a_crash_after_a_step_the_saga_does_not_have_is_refused_naming_the_steps() {
        let error = parse_list("crash after reserve").unwrap_err().to_string();
        assert!(error.contains("unknown saga or consumer step"), "{error}");
        assert!(error.contains("event-committed"), "{error}");
        assert!(error.contains("reserved"), "{error}");
        assert!(parse_list("crash after committed").is_ok());
    }
}
