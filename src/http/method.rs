//! HTTP method names for labels and span names: the standard methods by name, so that a
//! client cannot add metric series or span names by sending made-up methods.

use poem::http::Method;

/// The name of a method RFC 9110 or RFC 5789 (PATCH) defines; `None` for any other.
pub fn standard_name(method: &Method) -> Option<&'static str> {
    static KNOWN: [(Method, &str); 9] = [
        (Method::GET, "GET"),
        (Method::HEAD, "HEAD"),
        (Method::POST, "POST"),
        (Method::PUT, "PUT"),
        (Method::PATCH, "PATCH"),
        (Method::DELETE, "DELETE"),
        (Method::OPTIONS, "OPTIONS"),
        (Method::TRACE, "TRACE"),
        (Method::CONNECT, "CONNECT"),
    ];
    KNOWN
        .iter()
        .find(|(known, _)| known == method)
        .map(|(_, name)| *name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_standard_methods_have_a_name() {
        assert_eq!(standard_name(&Method::GET), Some("GET"));
        assert_eq!(standard_name(&Method::PATCH), Some("PATCH"));
        let custom = Method::from_bytes(b"PURGE").expect("a valid method token");
        assert_eq!(standard_name(&custom), None);
    }
}
