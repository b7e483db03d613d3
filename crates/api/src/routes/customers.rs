//! The built-in CRM over HTTP: cards, search, the screen-pop look-up, merging.

use crate::auth::Auth;
use crate::error::{clean_param, ApiError, ApiResult, ErrorBody, Json, Path, Query};
use crate::events::LiveEvent;
use crate::routes::{double_option, PageParams};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use hotline_model::{Customer, CustomerCard, IdentifierKind, Role};
use hotline_store::{CustomerPatch, CustomerQuery, NewCustomer};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerCreate {
    pub name: String,
    pub company: Option<String>,
    #[serde(default)]
    pub vip: bool,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Scalar values only (string, number, boolean, null).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub custom_fields: BTreeMap<String, Value>,
    #[serde(default)]
    pub notes: String,
    /// Phone numbers as typed; national numbers are read in the tenant's region.
    #[serde(default)]
    pub phones: Vec<String>,
    #[serde(default)]
    pub emails: Vec<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerUpdate {
    pub name: Option<String>,
    /// `null` clears the company.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub company: Option<Option<String>>,
    pub vip: Option<bool>,
    pub tags: Option<Vec<String>>,
    /// Replaces all custom fields.
    #[schema(value_type = Option<Object>)]
    pub custom_fields: Option<BTreeMap<String, Value>>,
    pub notes: Option<String>,
    /// Replaces the customer's phone numbers.
    pub phones: Option<Vec<String>>,
    /// Replaces the customer's e-mail addresses.
    pub emails: Option<Vec<String>>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentifierAdd {
    pub kind: IdentifierKind,
    /// As typed; normalised to E.164 or a lower-case address.
    pub value: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeRequest {
    /// The customer absorbed into the one in the path; its history moves over.
    pub absorb_id: i64,
}

#[derive(Serialize, ToSchema)]
pub struct CustomerPage {
    pub items: Vec<Customer>,
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Name, company, phone in any notation, or part of an e-mail.
    pub q: Option<String>,
    pub vip: Option<bool>,
    pub tag: Option<String>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    #[param(minimum = 0, maximum = 1000000)]
    pub offset: Option<i64>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LookupParams {
    /// The caller's number as it arrived (any notation).
    pub phone: Option<String>,
    /// The sender's address.
    pub email: Option<String>,
    /// How many recent interactions to include (1 to 200, default 20).
    #[param(minimum = 1, maximum = 200)]
    pub history: Option<i64>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CardParams {
    /// How many recent interactions to include (1 to 200, default 20).
    #[param(minimum = 1, maximum = 200)]
    pub history: Option<i64>,
}

fn history_limit(h: Option<i64>) -> ApiResult<i64> {
    let h = h.unwrap_or(20);
    if (1..=200).contains(&h) {
        Ok(h)
    } else {
        Err(ApiError::bad_request(
            "invalid_query",
            "history is 1 to 200",
        ))
    }
}

#[utoipa::path(get, path = "/api/v1/customers", tag = "customers", params(SearchParams),
    responses((status = 200, body = CustomerPage), (status = 401, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn search(
    State(state): State<AppState>,
    auth: Auth,
    Query(p): Query<SearchParams>,
) -> ApiResult<Json<CustomerPage>> {
    let (limit, offset) = PageParams {
        limit: p.limit,
        offset: p.offset,
    }
    .checked()?;
    let q =
        p.q.as_deref()
            .map(|q| clean_param("q", q, 200))
            .transpose()?;
    let tag = p
        .tag
        .as_deref()
        .map(|t| clean_param("tag", t, 64))
        .transpose()?;
    let page = state
        .store
        .search_customers(
            auth.tenant_id(),
            &CustomerQuery {
                q,
                vip: p.vip,
                tag,
                limit,
                offset,
            },
        )
        .await?;
    Ok(Json(CustomerPage {
        items: page.items,
        total: page.total,
        limit: page.limit,
        offset: page.offset,
    }))
}

#[utoipa::path(post, path = "/api/v1/customers", tag = "customers", request_body = CustomerCreate,
    responses((status = 201, body = Customer), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody, description = "A phone or e-mail belongs to another customer"), (status = 422, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    auth: Auth,
    Json(r): Json<CustomerCreate>,
) -> ApiResult<(StatusCode, Json<Customer>)> {
    let new = NewCustomer {
        name: r.name,
        company: r.company,
        vip: r.vip,
        tags: r.tags,
        custom_fields: r.custom_fields,
        notes: r.notes,
        phones: r.phones,
        emails: r.emails,
    };
    let c = state.store.create_customer(auth.tenant_id(), &new).await?;
    state.publish(LiveEvent::new(
        auth.tenant_id(),
        None,
        "customer.updated",
        &c,
    ));
    Ok((StatusCode::CREATED, Json(c)))
}

/// The screen pop: recognise a caller by number (or a writer by address) and return the card.
#[utoipa::path(get, path = "/api/v1/customers/lookup", tag = "customers", params(LookupParams),
    responses((status = 200, body = CustomerCard), (status = 404, body = ErrorBody, description = "Unknown caller: code customer_not_found"),
        (status = 401, body = ErrorBody), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody, description = "Not a phone number or e-mail address")))]
pub async fn lookup(
    State(state): State<AppState>,
    auth: Auth,
    Query(p): Query<LookupParams>,
) -> ApiResult<Json<CustomerCard>> {
    if p.phone.is_none() && p.email.is_none() {
        return Err(ApiError::bad_request(
            "invalid_query",
            "give phone or email",
        ));
    }
    let history = history_limit(p.history)?;
    let tenant = state.store.get_tenant(auth.tenant_id()).await?;
    let found = state
        .store
        .lookup_customer(
            tenant.id,
            &tenant.default_region,
            p.phone.as_deref(),
            p.email.as_deref(),
        )
        .await?;
    let customer = found.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "customer_not_found",
            "no customer has this phone or e-mail",
        )
    })?;
    Ok(Json(
        state.store.card_of(tenant.id, customer, history).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/customers/{id}", tag = "customers", params(("id" = i64, Path)),
    responses((status = 200, body = Customer), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
) -> ApiResult<Json<Customer>> {
    Ok(Json(state.store.get_customer(auth.tenant_id(), id).await?))
}

#[utoipa::path(get, path = "/api/v1/customers/{id}/card", tag = "customers", params(("id" = i64, Path), CardParams),
    responses((status = 200, body = CustomerCard), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn card(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
    Query(p): Query<CardParams>,
) -> ApiResult<Json<CustomerCard>> {
    let history = history_limit(p.history)?;
    Ok(Json(
        state
            .store
            .customer_card(auth.tenant_id(), id, history)
            .await?,
    ))
}

#[utoipa::path(patch, path = "/api/v1/customers/{id}", tag = "customers", params(("id" = i64, Path)), request_body = CustomerUpdate,
    responses((status = 200, body = Customer), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
    Json(r): Json<CustomerUpdate>,
) -> ApiResult<Json<Customer>> {
    let patch = CustomerPatch {
        name: r.name,
        company: r.company,
        vip: r.vip,
        tags: r.tags,
        custom_fields: r.custom_fields,
        notes: r.notes,
        phones: r.phones,
        emails: r.emails,
    };
    let c = state
        .store
        .update_customer(auth.tenant_id(), id, &patch)
        .await?;
    state.publish(LiveEvent::new(
        auth.tenant_id(),
        None,
        "customer.updated",
        &c,
    ));
    Ok(Json(c))
}

#[utoipa::path(post, path = "/api/v1/customers/{id}/identifiers", tag = "customers", params(("id" = i64, Path)), request_body = IdentifierAdd,
    responses((status = 200, body = Customer), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn add_identifier(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
    Json(r): Json<IdentifierAdd>,
) -> ApiResult<Json<Customer>> {
    let c = state
        .store
        .add_identifier(auth.tenant_id(), id, r.kind, &r.value)
        .await?;
    state.publish(LiveEvent::new(
        auth.tenant_id(),
        None,
        "customer.updated",
        &c,
    ));
    Ok(Json(c))
}

#[utoipa::path(post, path = "/api/v1/customers/{id}/merge", tag = "customers", params(("id" = i64, Path)), request_body = MergeRequest,
    responses((status = 200, body = Customer, description = "The surviving customer"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn merge(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
    Json(r): Json<MergeRequest>,
) -> ApiResult<Json<Customer>> {
    auth.require(Role::Supervisor)?;
    let c = state
        .store
        .merge_customers(auth.tenant_id(), id, r.absorb_id)
        .await?;
    tracing::info!(
        keep = id,
        absorbed = r.absorb_id,
        by = auth.user.id,
        "customers merged"
    );
    state.publish(LiveEvent::new(
        auth.tenant_id(),
        None,
        "customer.updated",
        &c,
    ));
    Ok(Json(c))
}

#[utoipa::path(delete, path = "/api/v1/customers/{id}", tag = "customers", params(("id" = i64, Path)),
    responses((status = 204, description = "Deleted"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "The customer has history; merge instead"), (status = 400, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    auth.require(Role::Supervisor)?;
    state.store.delete_customer(auth.tenant_id(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}
