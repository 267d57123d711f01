//! A host HTTP transport: the structs, the response reply function and
//! the bridge behind the core's `HttpTransport`.

use std::ffi::{c_char, c_void, CString};

use azmx_sync_core::engine::{HostError, HttpRequest, HttpResponse, HttpTransport};

use super::super::error::AzmxStatus;
use azmx_sync_bridge::host::http_response;
use azmx_sync_bridge::ApiError;

use super::super::guard::{bytes, ffi_boundary, null, text};

/// One HTTP header (NUL-terminated name and value).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct AzmxHttpHeader {
    /// Header name.
    pub name: *const c_char,
    /// Header value.
    pub value: *const c_char,
}

/// A request the engine asks the host transport to send. Valid only
/// during the callback.
#[repr(C)]
#[derive(Debug)]
pub struct AzmxHttpRequest {
    /// `"GET"`, `"POST"`, `"PUT"`...
    pub method: *const c_char,
    /// The full URL.
    pub url: *const c_char,
    /// `header_count` headers.
    pub headers: *const AzmxHttpHeader,
    /// Number of headers.
    pub header_count: usize,
    /// The body (may be NULL when `body_len` is 0).
    pub body: *const u8,
    /// Body length in bytes.
    pub body_len: usize,
}

/// Where a transport callback puts the relay's answer: pass it to
/// [`azmx_http_response_set`]. Opaque; owned by the engine.
pub struct AzmxHttpResponseOut {
    response: Option<HttpResponse>,
}

/// A host HTTP transport (for apps with their own networking stack). The
/// callback sends the request, calls `azmx_http_response_set` with the
/// answer (any status, 4xx/5xx included, is a normal answer) and returns
/// 0; it returns nonzero only when no answer could be had (connect
/// failure, timeout...). The struct is copied at engine creation. Callback
/// rules: see [`AzmxStoreAdapter`].
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct AzmxHttpTransport {
    /// Passed back as the first argument of `send`.
    pub user_data: *mut c_void,
    /// Sends one request.
    pub send: Option<
        unsafe extern "C" fn(
            user_data: *mut c_void,
            request: *const AzmxHttpRequest,
            response: *mut AzmxHttpResponseOut,
        ) -> i32,
    >,
}

/// Hands the relay's answer to the engine from a transport callback:
/// `status` (100–599), `header_count` headers (names in any case) and the
/// body. Everything is copied; a second call replaces the first. Only
/// valid inside a `send` callback, on the `response` it received.
///
/// Errors: `NULL_POINTER`, `INVALID_ARGUMENT` (status out of range, a
/// header not UTF-8).
///
/// # Safety
/// `response` the pointer the callback received; `headers` NULL (only with
/// `header_count` 0) or `header_count` valid headers of NUL-terminated
/// strings; `body` NULL (only with length 0) or readable for `body_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn azmx_http_response_set(
    response: *mut AzmxHttpResponseOut,
    status: u32,
    headers: *const AzmxHttpHeader,
    header_count: usize,
    body: *const u8,
    body_len: usize,
) -> AzmxStatus {
    // SAFETY: `response` is NULL or the live sink the engine passed to this
    // callback (not aliased during the call); the rest is NULL or valid as
    // the contract above says.
    ffi_boundary!("azmx_http_response_set", unsafe {
        let response = response.as_mut().ok_or_else(|| null("response"))?;
        if !(100..=599).contains(&status) {
            return Err(ApiError::invalid_argument(
                "`status` is not an HTTP status (100-599)",
            ));
        }
        if headers.is_null() && header_count > 0 {
            return Err(null("headers"));
        }
        let mut pairs = Vec::with_capacity(header_count.min(256));
        for i in 0..header_count {
            let h = &*headers.add(i);
            let (name, value) = (text(h.name, "header name")?, text(h.value, "header value")?);
            pairs.push((name.to_string(), value.to_string()));
        }
        let body = bytes(body, body_len, "body")?.to_vec();
        response.response = Some(http_response(status as u16, pairs, body));
        Ok(())
    })
}

/// A C HTTP transport behind the core's `HttpTransport` trait.
pub(crate) struct CTransport(pub AzmxHttpTransport);

// SAFETY: a C function pointer and an opaque `user_data` that the host
// promises (docs) may be used from the engine's threads for its lifetime.
unsafe impl Send for CTransport {}
// SAFETY: as above.
unsafe impl Sync for CTransport {}

impl HttpTransport for CTransport {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, HostError> {
        let f = self
            .0
            .send
            .ok_or_else(|| HostError::new("the HTTP transport has no `send` callback"))?;
        let bad = |_| HostError::new("an HTTP request field contains a NUL byte");
        let method = CString::new(request.method).map_err(bad)?;
        let url = CString::new(request.url).map_err(bad)?;
        let mut header_strings = Vec::with_capacity(request.headers.len());
        for (k, v) in request.headers {
            header_strings.push((CString::new(k).map_err(bad)?, CString::new(v).map_err(bad)?));
        }
        let headers: Vec<AzmxHttpHeader> = header_strings
            .iter()
            .map(|(k, v)| AzmxHttpHeader {
                name: k.as_ptr(),
                value: v.as_ptr(),
            })
            .collect();
        let req = AzmxHttpRequest {
            method: method.as_ptr(),
            url: url.as_ptr(),
            headers: headers.as_ptr(),
            header_count: headers.len(),
            body: request.body.as_ptr(),
            body_len: request.body.len(),
        };
        let mut out = AzmxHttpResponseOut { response: None };
        // SAFETY: a C callback given by the host with its user_data; `req`,
        // everything it points to and `out` live until after the call.
        let rc = unsafe { f(self.0.user_data, &req, &mut out) };
        if rc != 0 {
            return Err(HostError::new(format!(
                "host transport callback `send` returned {rc}"
            )));
        }
        out.response.ok_or_else(|| {
            HostError::new(
                "host transport callback `send` returned 0 without azmx_http_response_set",
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use azmx_sync_core::engine::HttpTransport;

    // SAFETY (extern "C"): a test callback, called only by the bridge
    // with the pointers its contract describes.
    unsafe extern "C" fn silent_send(
        _: *mut c_void,
        _: *const AzmxHttpRequest,
        _: *mut AzmxHttpResponseOut,
    ) -> i32 {
        0
    }

    #[test]
    fn a_transport_without_an_answer_is_an_error_not_a_crash() {
        let t = CTransport(AzmxHttpTransport {
            user_data: std::ptr::null_mut(),
            send: Some(silent_send),
        });
        let e = t
            .send(HttpRequest {
                method: "GET".into(),
                url: "http://x/".into(),
                headers: vec![("A".into(), "b".into())],
                body: Vec::new(),
            })
            .unwrap_err();
        assert!(e.message.contains("without azmx_http_response_set"));
    }
}
