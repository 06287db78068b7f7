//! Local replies: RFC 6750 `WWW-Authenticate` challenges with a small JSON body.

use serde_json::json;

/// A response the filter sends instead of forwarding the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    pub status: u32,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// RFC 6750 §3.1 error codes, plus the challenge without one for a request with no token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Challenge {
    /// No token at all: 401 with only the realm (RFC 6750 §3.1 says no error code).
    Missing,
    /// 400 `invalid_request`.
    InvalidRequest,
    /// 401 `invalid_token`.
    InvalidToken,
    /// 403 `insufficient_scope`.
    InsufficientScope,
}

impl Challenge {
    pub fn status(self) -> u32 {
        match self {
            Challenge::InvalidRequest => 400,
            Challenge::Missing | Challenge::InvalidToken => 401,
            Challenge::InsufficientScope => 403,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Challenge::Missing => "missing_token",
            Challenge::InvalidRequest => "invalid_request",
            Challenge::InvalidToken => "invalid_token",
            Challenge::InsufficientScope => "insufficient_scope",
        }
    }
}

/// Builds the reply. `description` is fixed filter text, never token content; characters that
/// a quoted-string cannot carry are dropped all the same.
pub fn deny(realm: &str, challenge: Challenge, description: &str) -> Denial {
    let description: String = description
        .chars()
        .filter(|c| (' '..='~').contains(c) && *c != '"' && *c != '\\')
        .collect();
    let www_authenticate = match challenge {
        Challenge::Missing => format!("Bearer realm=\"{realm}\""),
        _ => format!(
            "Bearer realm=\"{realm}\", error=\"{}\", error_description=\"{description}\"",
            challenge.code()
        ),
    };
    let body = json!({ "error": challenge.code(), "error_description": description }).to_string();
    Denial {
        status: challenge.status(),
        headers: vec![
            ("www-authenticate".into(), www_authenticate),
            ("content-type".into(), "application/json".into()),
            ("cache-control".into(), "no-store".into()),
        ],
        body,
    }
}

/// 403 `insufficient_scope` naming the scopes the request needs (RFC 6750 §3: `scope`), which
/// are route config, never token content.
pub fn insufficient_scope(realm: &str, description: &str, scopes: &[String]) -> Denial {
    let mut denial = deny(realm, Challenge::InsufficientScope, description);
    let scope: String = scopes
        .join(" ")
        .chars()
        .filter(|c| (' '..='~').contains(c) && *c != '"' && *c != '\\')
        .collect();
    if let Some((_, challenge)) = denial
        .headers
        .iter_mut()
        .find(|(name, _)| name == "www-authenticate")
    {
        challenge.push_str(&format!(", scope=\"{scope}\""));
    }
    denial
}

/// 500 for a fault on the operator's side (bad route metadata): no Bearer challenge, since no
/// token the client could send would help.
pub fn server_error(description: &str) -> Denial {
    let body = json!({ "error": "server_error", "error_description": description }).to_string();
    Denial {
        status: 500,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("cache-control".into(), "no-store".into()),
        ],
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header<'d>(denial: &'d Denial, name: &str) -> &'d str {
        &denial.headers.iter().find(|(n, _)| n == name).unwrap().1
    }

    #[test]
    fn missing_token_challenge_has_no_error_code() {
        let denial = deny(
            "jwt-relay",
            Challenge::Missing,
            "a bearer token is required",
        );
        assert_eq!(denial.status, 401);
        assert_eq!(
            header(&denial, "www-authenticate"),
            "Bearer realm=\"jwt-relay\""
        );
    }

    #[test]
    fn invalid_token_challenge_and_body() {
        let denial = deny("r", Challenge::InvalidToken, "token expired");
        assert_eq!(denial.status, 401);
        assert_eq!(
            header(&denial, "www-authenticate"),
            "Bearer realm=\"r\", error=\"invalid_token\", error_description=\"token expired\""
        );
        let body: serde_json::Value = serde_json::from_str(&denial.body).unwrap();
        assert_eq!(body["error"], "invalid_token");
        assert_eq!(body["error_description"], "token expired");
    }

    #[test]
    fn insufficient_scope_names_the_scopes() {
        let denial = insufficient_scope("r", "missing scope", &["a:read".into(), "b\"".into()]);
        assert_eq!(denial.status, 403);
        assert_eq!(
            header(&denial, "www-authenticate"),
            "Bearer realm=\"r\", error=\"insufficient_scope\", error_description=\"missing scope\", scope=\"a:read b\""
        );
        let error = server_error("bad route");
        assert_eq!(error.status, 500);
        assert!(error
            .headers
            .iter()
            .all(|(name, _)| name != "www-authenticate"));
    }

    #[test]
    fn statuses_follow_rfc_6750() {
        assert_eq!(deny("r", Challenge::InvalidRequest, "x").status, 400);
        assert_eq!(deny("r", Challenge::InsufficientScope, "x").status, 403);
    }

    #[test]
    fn descriptions_cannot_break_the_quoted_string() {
        let denial = deny("r", Challenge::InvalidToken, "a\"b\\c\r\nd");
        assert!(header(&denial, "www-authenticate").ends_with("error_description=\"abcd\""));
    }
}
