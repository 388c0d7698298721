//! Paging a list, for any resource: the query parameters (`limit`, `after`, `offset`,
//! `order`), the opt-in total (`Prefer: count=exact`, RFC 7240), and the response with its
//! RFC 8288 `Link` header. Keyset paging (`after`) costs the same at any depth; `offset` is
//! kept for older clients and bounded by [`MAX_OFFSET`].

use poem::{IntoResponse, Response, http::HeaderValue};
use poem_openapi::{
    ApiResponse, Enum,
    registry::{MetaHeader, MetaMediaType, MetaResponse, MetaResponses, MetaSchemaRef, Registry},
    types::Type,
};
use serde::Serialize;

use super::{
    error::ApiError,
    json_response::{self, CONTENT_TYPE},
};
use crate::db::keyset::{Direction, PageSpec};

/// Page size when `limit` is not given.
pub const DEFAULT_LIMIT: u32 = 100;
/// The largest accepted `limit`.
pub const MAX_LIMIT: u32 = 1_000;
/// The largest accepted `offset`: deeper offsets cost a scan of every skipped row.
pub const MAX_OFFSET: u32 = 10_000;

/// What to tell a client whose `offset` is refused.
const OFFSET_HINT: &str = "to page further, follow the `next` link, which pages with `after`";

/// Advice to add when a paging parameter is refused.
pub fn hint(parameter: &str) -> Option<&'static str> {
    (parameter == "offset").then_some(OFFSET_HINT)
}

/// The listing order, by id.
#[derive(Enum, Debug, Clone, Copy, Default, PartialEq, Eq)]
#[oai(rename_all = "lowercase")]
pub enum SortOrder {
    /// Oldest first.
    #[default]
    Asc,
    /// Newest first.
    Desc,
}

/// A page request, checked: `after` and `offset` are not combined, `offset` is bounded.
#[derive(Debug, Clone, Copy)]
pub struct Paging {
    pub limit: u32,
    pub after: Option<i64>,
    pub offset: Option<u32>,
    pub order: SortOrder,
}

impl Paging {
    pub fn new(
        limit: Option<u32>,
        after: Option<i64>,
        offset: Option<u32>,
        order: Option<SortOrder>,
    ) -> Result<Self, ApiError> {
        let offset_error = |message: String| ApiError::InvalidParameter {
            name: "offset".to_owned(),
            message,
        };
        if after.is_some() && offset.is_some() {
            return Err(offset_error(format!(
                "cannot be combined with `after`; {OFFSET_HINT}"
            )));
        }
        if offset.is_some_and(|o| o > MAX_OFFSET) {
            return Err(offset_error(format!(
                "must be an integer from 0 to {MAX_OFFSET}; {OFFSET_HINT}"
            )));
        }
        Ok(Self {
            limit: limit.unwrap_or(DEFAULT_LIMIT),
            after,
            offset,
            order: order.unwrap_or_default(),
        })
    }

    /// The page for the database layer.
    pub fn spec(&self) -> PageSpec {
        PageSpec {
            after: self.after,
            offset: self.offset.map_or(0, u64::from),
            limit: self.limit.into(),
            direction: match self.order {
                SortOrder::Asc => Direction::Ascending,
                SortOrder::Desc => Direction::Descending,
            },
        }
    }

    /// The `Link` header for this page: `next` (after the last item, when more follow),
    /// `first`, and `prev` for offset pages past the first. Each URL keeps `filters`, the
    /// order and the limit, so a client follows it as it is.
    pub fn links(&self, path: &str, filters: &[(&str, String)], next_after: Option<i64>) -> String {
        let url = |position: Option<(&str, String)>| {
            let mut query = url::form_urlencoded::Serializer::new(String::new());
            query.append_pair("limit", &self.limit.to_string());
            if let Some((name, value)) = &position {
                query.append_pair(name, value);
            }
            for (name, value) in filters {
                query.append_pair(name, value);
            }
            if self.order == SortOrder::Desc {
                query.append_pair("order", "desc");
            }
            format!("<{path}?{}>", query.finish())
        };
        let mut links = Vec::with_capacity(3);
        if let Some(after) = next_after {
            links.push(format!(
                "{}; rel=\"next\"",
                url(Some(("after", after.to_string())))
            ));
        }
        links.push(format!("{}; rel=\"first\"", url(None)));
        if let Some(offset) = self.offset.filter(|&o| o > 0) {
            let previous = offset.saturating_sub(self.limit);
            links.push(format!(
                "{}; rel=\"prev\"",
                url(Some(("offset", previous.to_string())))
            ));
        }
        links.join(", ")
    }
}

/// Whether a `Prefer` header (RFC 7240) asks for `count=exact`. Other preferences are
/// ignored, as the RFC asks.
pub fn wants_exact_count(prefer: Option<&str>) -> bool {
    prefer.is_some_and(|header| {
        header.split(',').any(|preference| {
            let token = preference.split(';').next().unwrap_or_default();
            match token.split_once('=') {
                Some((name, value)) => {
                    name.trim().eq_ignore_ascii_case("count")
                        && value.trim().trim_matches('"').eq_ignore_ascii_case("exact")
                }
                None => false,
            }
        })
    })
}

/// A page of `T` as a bare JSON array, with its `Link` header and, when the client preferred
/// `count=exact`, the total in `X-Total-Count`.
pub struct Paged<T> {
    pub items: Vec<T>,
    pub link: String,
    pub total: Option<u64>,
}

impl<T: Serialize + Send> IntoResponse for Paged<T> {
    fn into_response(self) -> Response {
        let mut response = json_response::serialize(&self.items);
        let headers = response.headers_mut();
        if let Ok(link) = HeaderValue::from_str(&self.link) {
            headers.insert("link", link);
        }
        // The body's headers depend on `Prefer`: shared caches must key on it.
        headers.insert("vary", HeaderValue::from_static("Prefer"));
        if let Some(total) = self.total {
            headers.insert("x-total-count", HeaderValue::from(total));
            headers.insert(
                "preference-applied",
                HeaderValue::from_static("count=exact"),
            );
        }
        response
    }
}

fn header(name: &str, description: &str, schema: MetaSchemaRef, required: bool) -> MetaHeader {
    MetaHeader {
        name: name.to_owned(),
        description: Some(description.to_owned()),
        required,
        deprecated: false,
        schema,
    }
}

impl<T: Type + Serialize + Send> ApiResponse for Paged<T> {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: vec![MetaResponse {
                description: "One page, as a bare JSON array",
                status: Some(200),
                status_range: None,
                content: vec![MetaMediaType {
                    content_type: CONTENT_TYPE,
                    schema: Vec::<T>::schema_ref(),
                }],
                headers: vec![
                    header(
                        "Link",
                        "RFC 8288 links, ready to follow: `next` (absent on the last page), \
                         `first`, and `prev` on an `offset` page past the first",
                        String::schema_ref(),
                        true,
                    ),
                    header(
                        "X-Total-Count",
                        "How many items match the filter, over all pages; only with \
                         `Prefer: count=exact`",
                        u64::schema_ref(),
                        false,
                    ),
                    header(
                        "Preference-Applied",
                        "`count=exact` when the total was counted",
                        String::schema_ref(),
                        false,
                    ),
                    header(
                        "Vary",
                        "`Prefer`: the headers depend on it",
                        String::schema_ref(),
                        true,
                    ),
                ],
            }],
        }
    }

    fn register(registry: &mut Registry) {
        Vec::<T>::register(registry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefer_count_exact_is_found_among_other_preferences() {
        assert!(wants_exact_count(Some("count=exact")));
        assert!(wants_exact_count(Some("return=minimal, Count=\"EXACT\"")));
        assert!(wants_exact_count(Some("respond-async, count=exact; x=1")));
        assert!(!wants_exact_count(Some("count=estimated")));
        assert!(!wants_exact_count(Some("count")));
        assert!(!wants_exact_count(None));
    }
}
