//! Carrying a verdict out, and a decision that can wait for a call out.
//!
//! A verdict allows (apply the header plan, continue), denies (strip owned headers, reply), or
//! asks for a call out: send this HTTP request, pause, and when the answer comes, resume the
//! decision with the state it left. The host adapter only performs the [`RequestHost`]
//! operations and hands answers back; what to do in which order, and failing closed when any
//! step fails, is here, tested natively against a recording host.
//!
//! The state a paused decision keeps is a type parameter: the filter's own is
//! [`decision::Resume`](crate::request::decision::Resume), which no feature produces yet
//! (introspection and token exchange will), so this machinery is proved here with a test one.

use crate::request::decision::{HeaderPlan, Verdict};
use crate::request::reply::{self, Challenge, Denial};

/// At most this many call outs for one request: a decision that keeps asking is refused.
pub const MAX_CALLOUTS: usize = 4;

/// An HTTP request the decision needs answered before it can go on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Callout {
    pub cluster: String,
    /// Request headers, pseudo-headers (`:method`, `:path`, `:authority`) included.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub timeout_ms: u64,
}

/// What came back: `status` is `None` when there was no response (connection failure, timeout).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Answer {
    pub status: Option<u32>,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

/// A host operation that failed; the flow refuses the request rather than go on half-done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostError(pub String);

/// What the flow needs from the host for one request.
pub trait RequestHost {
    fn remove_header(&mut self, name: &str) -> Result<(), HostError>;
    fn set_header(&mut self, name: &str, value: &str) -> Result<(), HostError>;
    fn send_reply(&mut self, denial: &Denial) -> Result<(), HostError>;
    /// Starts a call out; the token identifies its answer.
    fn dispatch(&mut self, call: &Callout) -> Result<u32, HostError>;
    /// Lets a paused request go on (after its headers were rewritten).
    fn resume_request(&mut self) -> Result<(), HostError>;
    /// Something went wrong on the host side; the reason is for the log, never the client.
    fn log_failure(&mut self, why: &str);
}

/// What the adapter tells Envoy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Forward the request (its headers already rewritten).
    Continue,
    /// Stop here: a reply was sent, or a call out is in flight.
    Pause,
}

/// One request's progress through its call outs.
#[derive(Debug)]
pub struct Flow<S> {
    pending: Option<(u32, S)>,
    callouts: usize,
    /// Whether the request was paused for a call out (then it must be resumed, not continued).
    paused: bool,
}

impl<S> Default for Flow<S> {
    fn default() -> Self {
        Flow {
            pending: None,
            callouts: 0,
            paused: false,
        }
    }
}

impl<S> Flow<S> {
    /// Whether an answer is awaited.
    pub fn waiting(&self) -> bool {
        self.pending.is_some()
    }

    /// Carries out a verdict: the first one of a request, or one a resume returned.
    pub fn carry_out(&mut self, host: &mut impl RequestHost, verdict: Verdict<S>) -> Step {
        match verdict {
            Verdict::Allow(plan) => match apply_plan(host, &plan) {
                Ok(()) if self.paused => match host.resume_request() {
                    Ok(()) => Step::Continue,
                    Err(HostError(why)) => fail_closed(host, &format!("could not resume: {why}")),
                },
                Ok(()) => Step::Continue,
                // A half-applied plan could forward the broad token: refuse instead.
                Err(HostError(why)) => {
                    fail_closed(host, &format!("could not rewrite request headers: {why}"))
                }
            },
            Verdict::Deny { denial, strip } => {
                for name in &strip {
                    // Best effort: the reply is local, these only keep access logs clean.
                    let _ = host.remove_header(name);
                }
                if let Err(HostError(why)) = host.send_reply(&denial) {
                    host.log_failure(&format!("could not send the reply: {why}"));
                }
                Step::Pause
            }
            Verdict::Callout { call, state } => {
                if self.callouts >= MAX_CALLOUTS {
                    return fail_closed(host, "too many call outs for one request");
                }
                match host.dispatch(&call) {
                    Ok(token) => {
                        self.callouts = self.callouts.saturating_add(1);
                        self.pending = Some((token, state));
                        self.paused = true;
                        Step::Pause
                    }
                    Err(HostError(why)) => fail_closed(
                        host,
                        &format!("could not call out to {}: {why}", call.cluster),
                    ),
                }
            }
        }
    }

    /// An answer arrived. One for another token (not this request's) is ignored; this
    /// request's resumes the decision with the state it left, and its verdict is carried out.
    pub fn answered(
        &mut self,
        host: &mut impl RequestHost,
        token: u32,
        answer: Answer,
        resume: impl FnOnce(S, Answer) -> Verdict<S>,
    ) -> Option<Step> {
        match self.pending.take() {
            Some((awaited, state)) if awaited == token => {
                let verdict = resume(state, answer);
                Some(self.carry_out(host, verdict))
            }
            other => {
                self.pending = other;
                None
            }
        }
    }
}

fn apply_plan(host: &mut impl RequestHost, plan: &HeaderPlan) -> Result<(), HostError> {
    for name in &plan.remove {
        host.remove_header(name)?;
    }
    for (name, value) in &plan.set {
        host.set_header(name, value)?;
    }
    if let Some(path) = &plan.path {
        host.set_header(":path", path)?;
    }
    Ok(())
}

/// Something the filter needs from the host failed: refuse the request, never pass it.
pub fn fail_closed(host: &mut impl RequestHost, why: &str) -> Step {
    host.log_failure(&format!("refusing request: {why}"));
    let mut denial = reply::deny("jwt-relay", Challenge::InvalidRequest, "");
    denial.status = 500;
    denial.headers = vec![("content-type".into(), "application/json".into())];
    if let Err(HostError(why)) = host.send_reply(&denial) {
        host.log_failure(&format!("could not send the reply: {why}"));
    }
    Step::Pause
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records every host operation; fails the ones named in `fail`.
    #[derive(Default)]
    struct RecordingHost {
        ops: Vec<String>,
        fail: Vec<&'static str>,
        next_token: u32,
    }

    impl RecordingHost {
        fn op(&mut self, what: &str, op: String) -> Result<(), HostError> {
            self.ops.push(op);
            if self.fail.contains(&what) {
                Err(HostError(format!("{what} refused")))
            } else {
                Ok(())
            }
        }
    }

    impl RequestHost for RecordingHost {
        fn remove_header(&mut self, name: &str) -> Result<(), HostError> {
            self.op("remove", format!("remove {name}"))
        }
        fn set_header(&mut self, name: &str, value: &str) -> Result<(), HostError> {
            self.op("set", format!("set {name}={value}"))
        }
        fn send_reply(&mut self, denial: &Denial) -> Result<(), HostError> {
            self.op("reply", format!("reply {}", denial.status))
        }
        fn dispatch(&mut self, call: &Callout) -> Result<u32, HostError> {
            self.op("dispatch", format!("dispatch {}", call.cluster))?;
            self.next_token += 1;
            Ok(self.next_token)
        }
        fn resume_request(&mut self) -> Result<(), HostError> {
            self.op("resume", "resume".into())
        }
        fn log_failure(&mut self, _why: &str) {
            self.ops.push("log".into());
        }
    }

    /// A test continuation: how many answers it has seen, and what to do after them.
    #[derive(Debug, PartialEq)]
    struct Asked(usize);

    fn plan() -> HeaderPlan {
        HeaderPlan {
            remove: vec!["authorization".into()],
            set: vec![("authorization".into(), "Bearer narrow".into())],
            path: Some("/orders".into()),
            response: vec![],
        }
    }

    fn callout(state: usize) -> Verdict<Asked> {
        Verdict::Callout {
            call: Callout {
                cluster: "idp".into(),
                headers: vec![(":method".into(), "POST".into())],
                body: b"token=opaque".to_vec(),
                timeout_ms: 1500,
            },
            state: Asked(state),
        }
    }

    fn deny(status: u32) -> Verdict<Asked> {
        let mut denial = reply::deny("api", Challenge::InvalidToken, "inactive");
        denial.status = status;
        Verdict::Deny {
            denial,
            strip: vec!["x-jwt-sub".into()],
        }
    }

    #[test]
    fn an_allow_applies_the_plan_in_order_and_continues() {
        let mut host = RecordingHost::default();
        let step = Flow::<Asked>::default().carry_out(&mut host, Verdict::Allow(plan()));
        assert_eq!(step, Step::Continue);
        assert_eq!(
            host.ops,
            [
                "remove authorization",
                "set authorization=Bearer narrow",
                "set :path=/orders"
            ]
        );
    }

    #[test]
    fn a_plan_the_host_cannot_apply_fails_closed() {
        let mut host = RecordingHost {
            fail: vec!["set"],
            ..Default::default()
        };
        let step = Flow::<Asked>::default().carry_out(&mut host, Verdict::Allow(plan()));
        assert_eq!(step, Step::Pause);
        assert_eq!(
            host.ops,
            [
                "remove authorization",
                "set authorization=Bearer narrow",
                "log",
                "reply 500"
            ]
        );
    }

    #[test]
    fn a_deny_strips_owned_headers_and_replies() {
        let mut host = RecordingHost::default();
        let step = Flow::<Asked>::default().carry_out(&mut host, deny(401));
        assert_eq!(step, Step::Pause);
        assert_eq!(host.ops, ["remove x-jwt-sub", "reply 401"]);
    }

    #[test]
    fn a_callout_pauses_and_its_answer_resumes_the_decision() {
        let mut host = RecordingHost::default();
        let mut flow = Flow::default();
        assert_eq!(flow.carry_out(&mut host, callout(0)), Step::Pause);
        assert!(flow.waiting());
        assert_eq!(host.ops, ["dispatch idp"]);
        // An answer for some other call is not this request's.
        let ignored = flow.answered(&mut host, 99, Answer::default(), |_, _| {
            panic!("resumed by another call's answer")
        });
        assert_eq!(ignored, None);
        assert!(flow.waiting());
        let answer = Answer {
            status: Some(200),
            headers: vec![],
            body: b"eyJ...".to_vec(),
        };
        let step = flow.answered(&mut host, 1, answer.clone(), |state, got| {
            assert_eq!(state, Asked(0));
            assert_eq!(got, answer);
            Verdict::Allow(plan())
        });
        assert_eq!(step, Some(Step::Continue));
        assert!(!flow.waiting());
        assert_eq!(
            host.ops,
            [
                "dispatch idp",
                "remove authorization",
                "set authorization=Bearer narrow",
                "set :path=/orders",
                "resume"
            ]
        );
    }

    #[test]
    fn a_resumed_decision_may_deny_or_call_out_again_within_the_bound() {
        let mut host = RecordingHost::default();
        let mut flow = Flow::default();
        flow.carry_out(&mut host, callout(0));
        let step = flow.answered(&mut host, 1, Answer::default(), |Asked(n), _| {
            deny(401 + n as u32)
        });
        assert_eq!(step, Some(Step::Pause));
        assert_eq!(host.ops, ["dispatch idp", "remove x-jwt-sub", "reply 401"]);

        // A decision that keeps calling out is refused after MAX_CALLOUTS.
        let mut host = RecordingHost::default();
        let mut flow = Flow::default();
        flow.carry_out(&mut host, callout(0));
        for token in 1..=MAX_CALLOUTS as u32 {
            let step = flow.answered(&mut host, token, Answer::default(), |Asked(n), _| {
                callout(n + 1)
            });
            assert_eq!(step, Some(Step::Pause));
        }
        let dispatched = host.ops.iter().filter(|op| *op == "dispatch idp").count();
        assert_eq!(dispatched, MAX_CALLOUTS);
        assert_eq!(host.ops.last().map(String::as_str), Some("reply 500"));
        assert!(!flow.waiting());
    }

    #[test]
    fn a_callout_that_cannot_start_or_resume_fails_closed() {
        let mut host = RecordingHost {
            fail: vec!["dispatch"],
            ..Default::default()
        };
        let mut flow = Flow::default();
        assert_eq!(flow.carry_out(&mut host, callout(0)), Step::Pause);
        assert_eq!(host.ops, ["dispatch idp", "log", "reply 500"]);
        assert!(!flow.waiting());

        let mut host = RecordingHost {
            fail: vec!["resume"],
            ..Default::default()
        };
        let mut flow = Flow::default();
        flow.carry_out(&mut host, callout(0));
        let step = flow.answered(&mut host, 1, Answer::default(), |_, _| {
            Verdict::Allow(plan())
        });
        assert_eq!(step, Some(Step::Pause));
        assert_eq!(host.ops.last().map(String::as_str), Some("reply 500"));
        assert_eq!(step, Some(Step::Pause), "never forwarded unresumed");
    }
}
