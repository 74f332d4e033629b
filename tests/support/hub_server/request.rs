//! A request as both modes read it: method, path (without the query) and its
//! percent-decoded segments, the `Authorization` and `If-None-Match` headers, and the body
//! of a `POST`.

use tiny_http::{Method, Request};

/// The parts of a request the handlers look at.
pub(super) struct Incoming {
    pub(super) method: Method,
    /// The path without the query, as sent.
    pub(super) path: String,
    /// The path's segments, percent-decoded.
    pub(super) segments: Vec<String>,
    /// The `Authorization` header's value, if any.
    pub(super) authorization: Option<String>,
    /// The `If-None-Match` header's value without quotes, if any.
    pub(super) if_none_match: Option<String>,
    /// The body of a `POST` (empty otherwise).
    pub(super) body: Vec<u8>,
}

impl Incoming {
    /// Reads `request`'s headers and, for a `POST`, its body.
    pub(super) fn read(request: &mut Request) -> Self {
        let path = request.url().split('?').next().unwrap_or("").to_string();
        let segments = path
            .trim_start_matches('/')
            .split('/')
            .map(percent_decode)
            .collect();
        let header = |name: &'static str| {
            request
                .headers()
                .iter()
                .find(|h| h.field.equiv(name))
                .map(|h| h.value.as_str().to_string())
        };
        let authorization = header("Authorization");
        let if_none_match = header("If-None-Match").map(|v| v.trim_matches('"').to_string());
        let method = request.method().clone();
        let mut body = vec![];
        if method == Method::Post {
            let _ = request.as_reader().read_to_end(&mut body);
        }
        Incoming {
            method,
            path,
            segments,
            authorization,
            if_none_match,
            body,
        }
    }

    /// The segments as string slices, for matching on.
    pub(super) fn segments(&self) -> Vec<&str> {
        self.segments.iter().map(String::as_str).collect()
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let digits = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
            if let Ok(v) = u8::from_str_radix(digits, 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
