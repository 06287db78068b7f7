//! Fetching only what changed: the validators a 200 came with (`ETag`, `Last-Modified`, RFC 9110
//! §8.8), the freshness it declared (`Cache-Control`, `Age`, RFC 9111 §5), and how both are kept
//! in shared data in one value with the body they describe.
//!
//! Response headers are untrusted input: a validator is kept only if it is short
//! ([`MAX_VALIDATOR_BYTES`]) printable ASCII (an `ETag` also has to be an entity-tag), so that it
//! can be sent back as is; anything else is dropped and the next fetch is simply unconditional.
//! `Cache-Control` is read defensively: any bytes, numbers saturate, contradictions and invalid
//! values count as "revalidate" (RFC 9111 §4.2.1: treat the response as stale).

use sha2::{Digest as _, Sha256};

use crate::config::RefreshBounds;

/// The longest validator kept; a longer one is dropped.
pub const MAX_VALIDATOR_BYTES: usize = 256;

/// What the identity service said identifies the document it sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

impl Validators {
    /// The validators of an answer's headers (names in lower case, as Envoy gives them; a
    /// header that appears more than once is ambiguous and dropped).
    pub fn from_headers(headers: &[(String, Vec<u8>)]) -> Validators {
        Validators {
            etag: single(headers, "etag").and_then(entity_tag),
            last_modified: single(headers, "last-modified").and_then(http_date_text),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.etag.is_none() && self.last_modified.is_none()
    }

    /// The precondition the next fetch sends: `If-None-Match` when there is an `ETag` (a server
    /// that has one ignores `If-Modified-Since` anyway, RFC 9110 §13.1.3, and a strong tag is
    /// exact where a date has a one-second resolution), else `If-Modified-Since`.
    pub fn condition(&self) -> Option<(&'static str, &str)> {
        match (&self.etag, &self.last_modified) {
            (Some(etag), _) => Some(("if-none-match", etag.as_str())),
            (None, Some(date)) => Some(("if-modified-since", date.as_str())),
            (None, None) => None,
        }
    }
}

/// How long an answer said it stays fresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Freshness {
    /// No `Cache-Control` that says (none, or only directives that do not bear on it).
    #[default]
    Unstated,
    /// `max-age`, less the answer's `Age`: fresh for this many more seconds.
    MaxAge(u64),
    /// `no-cache` or `no-store`, or a `max-age` that is invalid or contradicts itself.
    Revalidate,
}

impl Freshness {
    /// Reads every `cache-control` header of an answer (they form one list) and its `age`.
    pub fn from_headers(headers: &[(String, Vec<u8>)]) -> Freshness {
        let mut max_age: Option<u64> = None;
        let mut revalidate = false;
        for (_, value) in headers.iter().filter(|(name, _)| is(name, "cache-control")) {
            for directive in directives(value) {
                let (name, argument) = split_directive(&directive);
                if name.eq_ignore_ascii_case(b"no-cache") || name.eq_ignore_ascii_case(b"no-store")
                {
                    revalidate = true;
                } else if name.eq_ignore_ascii_case(b"max-age") {
                    match argument.and_then(delta_seconds) {
                        Some(seconds) if max_age.is_none_or(|seen| seen == seconds) => {
                            max_age = Some(seconds);
                        }
                        // Invalid, missing, or two different values: stale.
                        _ => revalidate = true,
                    }
                }
            }
        }
        if revalidate {
            return Freshness::Revalidate;
        }
        let Some(max_age) = max_age else {
            return Freshness::Unstated;
        };
        // An `Age` that is not a number is ignored; an answer older than its max-age is stale.
        let age = single(headers, "age").and_then(delta_seconds).unwrap_or(0);
        match max_age.saturating_sub(age) {
            0 => Freshness::Revalidate,
            left => Freshness::MaxAge(left),
        }
    }

    /// The refresh period this asks for, in seconds: `default_seconds` when it says nothing or
    /// `Cache-Control` is not honoured (`bounds` is `None`), else `max-age` within the bounds and
    /// the shortest allowed for "revalidate".
    pub fn refresh_seconds(self, default_seconds: u64, bounds: Option<RefreshBounds>) -> u64 {
        let Some(bounds) = bounds else {
            return default_seconds;
        };
        match self {
            Freshness::Unstated => default_seconds,
            Freshness::MaxAge(seconds) => seconds.clamp(
                bounds.min_seconds,
                bounds.max_seconds.max(bounds.min_seconds),
            ),
            Freshness::Revalidate => bounds.min_seconds,
        }
    }
}

/// What a 200 (or a 304) said about the document besides its body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Described {
    pub validators: Validators,
    pub freshness: Freshness,
}

impl Described {
    pub fn from_headers(headers: &[(String, Vec<u8>)]) -> Described {
        Described {
            validators: Validators::from_headers(headers),
            freshness: Freshness::from_headers(headers),
        }
    }
}

/// Identifies a body (the first 8 bytes of its SHA-256): which document a VM holds, and the
/// version of a JWKS's keys.
pub fn digest(body: &[u8]) -> u64 {
    let hash = Sha256::digest(body);
    let mut first = [0u8; 8];
    first
        .iter_mut()
        .zip(hash.iter())
        .for_each(|(to, from)| *to = *from);
    u64::from_le_bytes(first)
}

/// The first line of a stored document: the layout, so a value in any other form is refused.
const MAGIC: &[u8] = b"jwt-relay document 1";

/// A published document as it is kept in shared data: the body with its digest, validators and
/// freshness, in one value (one write), so that a reader never pairs a body with another
/// body's validators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored<'a> {
    pub described: Described,
    pub digest: u64,
    pub body: &'a [u8],
}

impl Stored<'_> {
    /// `MAGIC`, then `key value` lines (`etag`, `last-modified`, `max-age` or `revalidate`,
    /// `digest`), an empty line, the body. Validators hold no line breaks (checked when read).
    pub fn encode(described: &Described, digest: u64, body: &[u8]) -> Vec<u8> {
        let mut head = String::from_utf8_lossy(MAGIC).into_owned();
        head.push('\n');
        if let Some(etag) = &described.validators.etag {
            head.push_str(&format!("etag {etag}\n"));
        }
        if let Some(date) = &described.validators.last_modified {
            head.push_str(&format!("last-modified {date}\n"));
        }
        match described.freshness {
            Freshness::Unstated => {}
            Freshness::MaxAge(seconds) => head.push_str(&format!("max-age {seconds}\n")),
            Freshness::Revalidate => head.push_str("revalidate\n"),
        }
        head.push_str(&format!("digest {digest:016x}\n\n"));
        let mut value = head.into_bytes();
        value.extend_from_slice(body);
        value
    }

    /// Reads a value written by [`Stored::encode`]; anything else is an error.
    pub fn decode(value: &[u8]) -> Result<Stored<'_>, String> {
        let (first, mut rest) = split_line(value).ok_or("not a stored jwt-relay document")?;
        if first != MAGIC {
            return Err("not a stored jwt-relay document".into());
        }
        let mut described = Described::default();
        let mut digest = None;
        loop {
            let (line, after) = split_line(rest).ok_or("stored document ends in its head")?;
            rest = after;
            if line.is_empty() {
                break;
            }
            let text = std::str::from_utf8(line).map_err(|_| "stored head is not UTF-8")?;
            let (key, value) = text.split_once(' ').unwrap_or((text, ""));
            match key {
                "etag" => described.validators.etag = entity_tag(value.as_bytes()),
                "last-modified" => {
                    described.validators.last_modified = http_date_text(value.as_bytes());
                }
                "max-age" => {
                    let seconds = delta_seconds(value.as_bytes()).ok_or("bad stored max-age")?;
                    described.freshness = Freshness::MaxAge(seconds);
                }
                "revalidate" => described.freshness = Freshness::Revalidate,
                "digest" => {
                    digest = Some(u64::from_str_radix(value, 16).map_err(|_| "bad stored digest")?);
                }
                _ => return Err(format!("unknown stored field {key:?}")),
            }
        }
        let digest = digest.ok_or("stored document has no digest")?;
        Ok(Stored {
            described,
            digest,
            body: rest,
        })
    }
}

/// The bytes before the first line break and those after it; `None` without one.
fn split_line(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut parts = bytes.splitn(2, |&b| b == b'\n');
    let line = parts.next()?;
    Some((line, parts.next()?))
}

fn is(name: &str, wanted: &str) -> bool {
    name.eq_ignore_ascii_case(wanted)
}

/// The value of a header that appears exactly once.
fn single<'a>(headers: &'a [(String, Vec<u8>)], name: &str) -> Option<&'a [u8]> {
    let mut values = headers.iter().filter(|(n, _)| is(n, name));
    let (_, value) = values.next()?;
    values.next().is_none().then_some(value.as_slice())
}

fn trim(bytes: &[u8]) -> &[u8] {
    let ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = bytes.iter().position(|b| !ows(b)).unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !ows(b))
        .map_or(start, |last| last.saturating_add(1));
    bytes.get(start..end).unwrap_or_default()
}

/// An entity-tag (`"xyz"` or `W/"xyz"`, RFC 9110 §8.8.3) of printable ASCII, at most
/// [`MAX_VALIDATOR_BYTES`]; else `None`.
fn entity_tag(value: &[u8]) -> Option<String> {
    let value = trim(value);
    if value.len() > MAX_VALIDATOR_BYTES {
        return None;
    }
    let opaque = value.strip_prefix(b"W/").unwrap_or(value);
    let inner = opaque.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
    // etagc: %x21 / %x23-7E (obs-text is not kept).
    let valid = inner
        .iter()
        .all(|&b| b == 0x21 || (0x23..=0x7e).contains(&b));
    valid
        .then(|| std::str::from_utf8(value).ok().map(str::to_owned))
        .flatten()
}

/// A `Last-Modified` value kept as it came (a server compares its own date): printable ASCII and
/// spaces, non-empty, at most [`MAX_VALIDATOR_BYTES`]; else `None`.
fn http_date_text(value: &[u8]) -> Option<String> {
    let value = trim(value);
    let valid = !value.is_empty()
        && value.len() <= MAX_VALIDATOR_BYTES
        && value.iter().all(|&b| (0x20..=0x7e).contains(&b));
    valid
        .then(|| std::str::from_utf8(value).ok().map(str::to_owned))
        .flatten()
}

/// delta-seconds (RFC 9111 §1.2.2): digits, optionally quoted; too large saturates.
fn delta_seconds(value: &[u8]) -> Option<u64> {
    let value = trim(value);
    let digits = value
        .strip_prefix(b"\"")
        .and_then(|v| v.strip_suffix(b"\""))
        .unwrap_or(value);
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |total, &b| {
        let digit = char::from(b).to_digit(10)?;
        Some(total.saturating_mul(10).saturating_add(u64::from(digit)))
    })
}

/// The comma-separated directives of a `Cache-Control` value, commas inside quoted strings kept.
fn directives(value: &[u8]) -> Vec<Vec<u8>> {
    let mut all = Vec::new();
    let mut current = Vec::new();
    let (mut quoted, mut escaped) = (false, false);
    for &b in value {
        if quoted {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                quoted = false;
            }
        } else if b == b'"' {
            quoted = true;
        } else if b == b',' {
            all.push(std::mem::take(&mut current));
            continue;
        }
        current.push(b);
    }
    all.push(current);
    all.retain(|directive| !trim(directive).is_empty());
    all
}

/// `name[=argument]`, both trimmed.
fn split_directive(directive: &[u8]) -> (&[u8], Option<&[u8]>) {
    let directive = trim(directive);
    let mut parts = directive.splitn(2, |&b| b == b'=');
    let name = trim(parts.next().unwrap_or_default());
    (name, parts.next().map(trim))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &[u8])]) -> Vec<(String, Vec<u8>)> {
        pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), value.to_vec()))
            .collect()
    }

    fn freshness(pairs: &[(&str, &[u8])]) -> Freshness {
        Freshness::from_headers(&headers(pairs))
    }

    const BOUNDS: Option<RefreshBounds> = Some(RefreshBounds {
        min_seconds: 60,
        max_seconds: 300,
    });

    #[test]
    fn validators_are_kept_only_when_short_printable_and_well_formed() {
        let both = Validators::from_headers(&headers(&[
            ("etag", b"\"abc-123\""),
            ("last-modified", b"Wed, 21 Oct 2015 07:28:00 GMT"),
        ]));
        assert_eq!(both.etag.as_deref(), Some("\"abc-123\""));
        assert_eq!(
            both.last_modified.as_deref(),
            Some("Wed, 21 Oct 2015 07:28:00 GMT")
        );
        assert_eq!(both.condition(), Some(("if-none-match", "\"abc-123\"")));
        let weak = Validators::from_headers(&headers(&[("ETag", b" W/\"v1\" ")]));
        assert_eq!(weak.etag.as_deref(), Some("W/\"v1\""));

        let long_tag = format!("\"{}\"", "a".repeat(MAX_VALIDATOR_BYTES - 2));
        assert_eq!(long_tag.len(), MAX_VALIDATOR_BYTES);
        let at_limit = Validators::from_headers(&headers(&[("etag", long_tag.as_bytes())]));
        assert_eq!(at_limit.etag.as_deref(), Some(long_tag.as_str()));
        let over = format!("\"{}\"", "a".repeat(MAX_VALIDATOR_BYTES - 1));
        let long_date = "x".repeat(MAX_VALIDATOR_BYTES + 1);
        for garbage in [
            headers(&[("etag", over.as_bytes())]),
            headers(&[("etag", b"abc")]),
            headers(&[("etag", b"\"a\"b\"")]),
            headers(&[("etag", b"\"caf\xc3\xa9\"")]),
            headers(&[("etag", b"\"a\r\nx: y\"")]),
            headers(&[("etag", b"\"\x00\"")]),
            headers(&[("etag", b"\"")]),
            headers(&[("etag", b"\"a\""), ("etag", b"\"b\"")]),
            headers(&[("last-modified", long_date.as_bytes())]),
            headers(&[("last-modified", b"Wed,\n21 Oct")]),
            headers(&[("last-modified", b"  ")]),
            headers(&[("last-modified", b"\xff\xfe")]),
        ] {
            let validators = Validators::from_headers(&garbage);
            assert!(validators.is_empty(), "{garbage:?} gave {validators:?}");
            assert_eq!(validators.condition(), None);
        }
        let date_only = Validators::from_headers(&headers(&[
            ("etag", b"nope"),
            ("last-modified", b"Wed, 21 Oct 2015 07:28:00 GMT"),
        ]));
        assert_eq!(
            date_only.condition(),
            Some(("if-modified-since", "Wed, 21 Oct 2015 07:28:00 GMT"))
        );
    }

    #[test]
    fn max_age_is_read_defensively() {
        assert_eq!(freshness(&[]), Freshness::Unstated);
        assert_eq!(
            freshness(&[("cache-control", b"public, max-age=120")]),
            Freshness::MaxAge(120)
        );
        assert_eq!(
            freshness(&[("Cache-Control", b"MAX-AGE = \"90\" , must-revalidate")]),
            Freshness::MaxAge(90)
        );
        // Two header lines are one list.
        assert_eq!(
            freshness(&[
                ("cache-control", b"public"),
                ("cache-control", b"max-age=30")
            ]),
            Freshness::MaxAge(30)
        );
        assert_eq!(
            freshness(&[("cache-control", b"max-age=30, max-age=30")]),
            Freshness::MaxAge(30)
        );
        // Overflow saturates.
        assert_eq!(
            freshness(&[("cache-control", b"max-age=99999999999999999999999999")]),
            Freshness::MaxAge(u64::MAX)
        );
        // Age counts against max-age; a bad Age is ignored.
        assert_eq!(
            freshness(&[("cache-control", b"max-age=100"), ("age", b"40")]),
            Freshness::MaxAge(60)
        );
        assert_eq!(
            freshness(&[("cache-control", b"max-age=100"), ("age", b"old")]),
            Freshness::MaxAge(100)
        );
        assert_eq!(
            freshness(&[("cache-control", b"max-age=100"), ("age", b"100")]),
            Freshness::Revalidate
        );
        // A comma inside a quoted argument does not start a directive.
        assert_eq!(
            freshness(&[("cache-control", b"private=\"x, max-age=5\", max-age=50")]),
            Freshness::MaxAge(50)
        );
        for stale in [
            &b"no-cache"[..],
            b"No-Store, max-age=600",
            b"max-age=600, no-cache=\"set-cookie\"",
            b"max-age=-1",
            b"max-age=1.5",
            b"max-age=",
            b"max-age",
            b"max-age=10, max-age=20",
            b"max-age=\xff",
        ] {
            assert_eq!(
                freshness(&[("cache-control", stale)]),
                Freshness::Revalidate,
                "{}",
                String::from_utf8_lossy(stale)
            );
        }
        for silent in [
            &b""[..],
            b",,,",
            b"public",
            b"s-maxage=5",
            b"\"max-age=5\"",
            b"\xff\x00",
        ] {
            assert_eq!(
                freshness(&[("cache-control", silent)]),
                Freshness::Unstated,
                "{}",
                String::from_utf8_lossy(silent)
            );
        }
    }

    #[test]
    fn the_refresh_period_stays_within_the_bounds() {
        assert_eq!(Freshness::Unstated.refresh_seconds(300, BOUNDS), 300);
        assert_eq!(Freshness::MaxAge(120).refresh_seconds(300, BOUNDS), 120);
        assert_eq!(Freshness::MaxAge(5).refresh_seconds(300, BOUNDS), 60);
        assert_eq!(
            Freshness::MaxAge(u64::MAX).refresh_seconds(300, BOUNDS),
            300
        );
        assert_eq!(Freshness::Revalidate.refresh_seconds(300, BOUNDS), 60);
        // Not honoured (the revocation feed): always the configured period.
        for freshness in [
            Freshness::Unstated,
            Freshness::MaxAge(1),
            Freshness::Revalidate,
        ] {
            assert_eq!(freshness.refresh_seconds(10, None), 10);
        }
    }

    #[test]
    fn a_stored_document_round_trips_and_anything_else_is_refused() {
        let described = Described {
            validators: Validators {
                etag: Some("W/\"e1\"".into()),
                last_modified: Some("Wed, 21 Oct 2015 07:28:00 GMT".into()),
            },
            freshness: Freshness::MaxAge(120),
        };
        let body = b"{\"keys\": []}\n\nwith blank lines\n";
        let value = Stored::encode(&described, digest(body), body);
        let stored = Stored::decode(&value).unwrap();
        assert_eq!(stored.described, described);
        assert_eq!(stored.digest, digest(body));
        assert_eq!(stored.body, body);

        for freshness in [Freshness::Unstated, Freshness::Revalidate] {
            let bare = Described {
                validators: Validators::default(),
                freshness,
            };
            let value = Stored::encode(&bare, 7, b"");
            let stored = Stored::decode(&value).unwrap();
            assert_eq!(
                (stored.described, stored.digest, stored.body),
                (bare, 7, &b""[..])
            );
        }
        for junk in [
            &b""[..],
            b"{\"keys\": []}",
            b"jwt-relay document 1",
            b"jwt-relay document 1\ndigest 00\n",
            b"jwt-relay document 1\n\n{}",
            b"jwt-relay document 2\ndigest 00\n\n{}",
            b"jwt-relay document 1\ndigest zz\n\n{}",
            b"jwt-relay document 1\ncolour red\ndigest 00\n\n{}",
            b"jwt-relay document 1\nmax-age x\ndigest 00\n\n{}",
            b"jwt-relay document 1\n\xff\n\n{}",
        ] {
            assert!(
                Stored::decode(junk).is_err(),
                "{}",
                String::from_utf8_lossy(junk)
            );
        }
    }

    #[test]
    fn digests_tell_bodies_apart() {
        assert_eq!(digest(b"a"), digest(b"a"));
        assert_ne!(digest(b"a"), digest(b"b"));
    }
}
