//! The caller of an operation, as a handler parameter: `caller: Caller<ReadNotes>`
//! authenticates the request (when authentication is on) and checks that its token holds
//! the scope `ReadNotes` names; the handler then passes `caller.owner()` to its database
//! functions. A resource declares its scopes as types:
//!
//! ```ignore
//! pub struct ReadNotes;
//! impl Scope for ReadNotes {
//!     const NAME: &'static str = "notes:read";
//! }
//! ```
//!
//! In the OpenAPI document the parameter is the operation's security requirement, with its
//! scope (see `http::spec`).

use std::{marker::PhantomData, sync::Arc};

use poem::{Request, RequestBody, http::header};
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ExtractParamOptions,
    registry::{MetaSecurityScheme, Registry},
};

use super::Authenticator;
use crate::{
    db::owner::Owner,
    http::{error::ApiError, spec::SCOPE_MARKER},
};

/// An OAuth scope an operation needs.
pub trait Scope: Send + Sync + 'static {
    /// As tokens carry it in `scope` or `scp`: `notes:read`.
    const NAME: &'static str;
}

/// Request data (`EndpointExt::data`): the authenticator, `None` when authentication is off.
#[derive(Clone)]
pub struct AuthState(pub Option<Arc<Authenticator>>);

/// Who calls an operation that needs scope `S`.
pub struct Caller<S> {
    owner: Owner,
    scope: PhantomData<fn() -> S>,
}

impl<S> Caller<S> {
    /// Whose rows the call may see and change.
    pub fn owner(&self) -> &Owner {
        &self.owner
    }
}

impl<'a, S: Scope> ApiExtractor<'a> for Caller<S> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        registry.create_security_scheme(
            S::NAME,
            MetaSecurityScheme {
                ty: "oauth2",
                description: Some(SCOPE_MARKER),
                name: None,
                key_in: None,
                scheme: None,
                bearer_format: None,
                flows: None,
                openid_connect_url: None,
            },
        );
    }

    fn security_schemes() -> Vec<&'static str> {
        vec![S::NAME]
    }

    async fn from_request(
        request: &'a Request,
        _body: &mut RequestBody,
        _: ExtractParamOptions<()>,
    ) -> poem::Result<Self> {
        let state = request.data::<AuthState>().ok_or_else(|| {
            ApiError::Internal("no AuthState in the request data (see app::routes)".to_owned())
        })?;
        let owner = match &state.0 {
            None => Owner::Anyone,
            Some(auth) => {
                let header = request.headers().get(header::AUTHORIZATION);
                auth.authenticate(header, S::NAME).await?
            }
        };
        Ok(Self {
            owner,
            scope: PhantomData,
        })
    }
}
