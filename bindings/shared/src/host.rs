//! What a host's callbacks hand back to the engine, put in the core's form
//! once for every binding.

use azmx_sync_core::engine::HttpResponse;

/// A host transport's answer: header names in lower case, as the core
/// looks them up (hosts give them in any case; a repeated name keeps its
/// last value).
pub fn http_response(
    status: u16,
    headers: impl IntoIterator<Item = (String, String)>,
    body: Vec<u8>,
) -> HttpResponse {
    HttpResponse {
        status,
        headers: headers
            .into_iter()
            .map(|(name, value)| (name.to_ascii_lowercase(), value))
            .collect(),
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_are_lower_cased_and_the_last_repeat_wins() {
        let r = http_response(
            200,
            [("Retry-After", "1"), ("X-A", "a"), ("retry-after", "2")]
                .map(|(n, v)| (n.to_string(), v.to_string())),
            b"x".to_vec(),
        );
        assert_eq!((r.status, r.header("RETRY-AFTER")), (200, Some("2")));
        assert_eq!(r.headers.keys().collect::<Vec<_>>(), ["retry-after", "x-a"]);
        assert_eq!(r.body, b"x");
    }
}
