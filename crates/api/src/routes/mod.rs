//! Handlers, one file per entity family, named as in `hotline-store`.

pub mod admin;
pub mod agents;
pub mod auth;
pub mod callbacks;
pub mod catalog;
pub mod customers;
pub mod desk;
pub mod flows;
pub mod interactions;
pub mod messages;
pub mod site;
pub mod system;
pub mod telephony;

use crate::error::{ApiError, ApiResult};
use serde::{Deserialize, Deserializer};
use utoipa::IntoParams;

/// `Option<Option<T>>` for PATCH bodies: absent = keep, `null` = clear, value = set.
pub fn double_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

pub const MAX_LIMIT: i64 = 200;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Items per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// Items to skip (default 0).
    #[param(minimum = 0, maximum = 1000000)]
    pub offset: Option<i64>,
}

impl PageParams {
    pub fn checked(&self) -> ApiResult<(i64, i64)> {
        let limit = self.limit.unwrap_or(50);
        let offset = self.offset.unwrap_or(0);
        if !(1..=MAX_LIMIT).contains(&limit) || !(0..=1_000_000).contains(&offset) {
            return Err(ApiError::bad_request(
                "invalid_pagination",
                format!("limit is 1 to {MAX_LIMIT}, offset 0 to 1000000"),
            ));
        }
        Ok((limit, offset))
    }
}
