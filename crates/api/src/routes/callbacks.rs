//! Callbacks promised for a time ("I will call you back tomorrow at ten"): booked from the
//! desk, listed as the agent's own, cancelled. The callback is an interaction of its own that
//! waits in routing until its time, goes to its agent first and then to anyone in its queue;
//! routing and telephony call the customer for the agent as for any callback.

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, ErrorBody, Json, Path, Query};
use crate::events::LiveEvent;
use crate::routes::desk::{routing, unavailable};
use crate::routes::interactions::{check_may_change, parse_time};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use hotline_model::{Channel, IdentifierKind, Role, ScheduledCallback};
use hotline_routing::{AgentId, ContactId, ContactSpec, QueueId, RoutingError, Time};
use hotline_store::{CallbackFilter, NewCallback};
use serde::Deserialize;
use std::time::Duration;
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

/// How long an agent's own callback waits for them alone once due, before anyone in the
/// queue may make it.
pub const OWN_CALLBACK_WINDOW: Duration = Duration::from_secs(15 * 60);
/// The furthest ahead a callback may be booked.
const MAX_AHEAD: time::Duration = time::Duration::days(90);
/// A time this little in the past is taken as "now" (clocks and slow forms).
const GRACE: time::Duration = time::Duration::minutes(2);

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallbackCreate {
    /// When to call, RFC 3339 (e.g. `2026-11-24T10:00:00+03:00`); not in the past, at most
    /// 90 days ahead.
    pub due_at: String,
    /// The contact during which it was promised: its customer and queue are the defaults.
    pub interaction_id: Option<i64>,
    pub customer_id: Option<i64>,
    pub queue_id: Option<i64>,
    /// The number to call, as people type it; the customer's first phone when absent.
    pub number: Option<String>,
    /// Whose callback it is: they get it first, for 15 minutes from its time. An agent's own by
    /// default; another agent's only for supervisors.
    pub agent_id: Option<i64>,
    /// The queue's callback: whoever is free calls.
    #[serde(default)]
    pub anyone: bool,
    /// What to call about (shown with the callback and kept as the interaction's notes).
    #[serde(default)]
    pub note: String,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackParams {
    /// An agent's callbacks (supervisors); agents always see their own.
    pub agent_id: Option<i64>,
    /// Include those that are over (made, failed, cancelled).
    pub all: Option<bool>,
    /// RFC 3339; due at or after.
    pub from: Option<String>,
    /// RFC 3339; due before.
    pub to: Option<String>,
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

fn unprocessable(code: &'static str, field: &str, message: impl Into<String>) -> ApiError {
    let mut e = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message);
    e.field = Some(field.into());
    e
}

fn wall(t: OffsetDateTime) -> Time {
    Time::from_millis(u64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(0))
}

/// Books a callback. It waits in routing until its time, then rings its agent's phone (for 15
/// minutes only theirs, then anyone's in the queue) and calls the customer for them.
#[utoipa::path(post, path = "/api/v1/callbacks", tag = "callbacks", request_body = CallbackCreate,
    responses((status = 201, body = ScheduledCallback), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody), (status = 400, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    auth: Auth,
    Json(req): Json<CallbackCreate>,
) -> ApiResult<(StatusCode, Json<ScheduledCallback>)> {
    let t = auth.tenant_id();
    let now = OffsetDateTime::now_utc();
    let due = parse_time("due_at", Some(&req.due_at))
        .map_err(|_| {
            unprocessable(
                "invalid_time",
                "due_at",
                "an RFC 3339 time such as 2026-11-24T10:00:00+03:00",
            )
        })?
        .unwrap_or(now);
    if due < now - GRACE {
        return Err(unprocessable(
            "due_in_past",
            "due_at",
            "the time has passed already",
        ));
    }
    if due > now + MAX_AHEAD {
        return Err(unprocessable(
            "due_too_far",
            "due_at",
            "a callback is booked at most 90 days ahead",
        ));
    }
    let origin = match req.interaction_id {
        Some(id) => {
            let i = state.store.get_interaction(t, id).await?;
            check_may_change(&state, &auth, &i).await?;
            Some(i)
        }
        None => None,
    };
    let customer_id = req
        .customer_id
        .or_else(|| origin.as_ref().and_then(|i| i.customer_id));
    let customer = match customer_id {
        Some(c) => Some(state.store.get_customer(t, c).await?),
        None => None,
    };
    let queue_id = req
        .queue_id
        .or_else(|| origin.as_ref().and_then(|i| i.queue_id))
        .ok_or_else(|| {
            unprocessable(
                "queue_required",
                "queue_id",
                "name the queue whose agents make the callback",
            )
        })?;
    let queue = state.store.get_queue(t, queue_id).await?;
    if !queue.channels.contains(&Channel::Voice) {
        return Err(unprocessable(
            "queue_not_voice",
            "queue_id",
            "the queue takes no calls",
        ));
    }
    let tenant = state.store.get_tenant(t).await?;
    let number = match req
        .number
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        Some(n) => hotline_model::phone::normalize_phone(n, &tenant.default_region)
            .map_err(|e| unprocessable("invalid_phone", "number", e.message))?,
        None => customer
            .as_ref()
            .and_then(|c| {
                c.identifiers
                    .iter()
                    .find(|i| i.kind == IdentifierKind::Phone)
            })
            .map(|i| i.value.clone())
            .ok_or_else(|| {
                unprocessable(
                    "number_required",
                    "number",
                    "the customer has no phone number: give the number to call",
                )
            })?,
    };
    let own = state.store.get_agent_by_user(t, auth.user.id).await.ok();
    let agent_id = match (req.anyone, req.agent_id, &own) {
        (true, Some(_), _) => {
            return Err(unprocessable(
                "unexpected_agent",
                "agent_id",
                "a callback for anyone has no agent",
            ))
        }
        (true, None, _) => None,
        (false, Some(id), Some(me)) if id == me.id => Some(id),
        (false, Some(id), _) => {
            auth.require(Role::Supervisor)?;
            Some(state.store.get_agent(t, id).await?.id)
        }
        (false, None, Some(me)) => Some(me.id),
        (false, None, None) => None,
    };
    let booked = book(
        &state,
        t,
        NewCallback {
            queue_id,
            customer_id,
            agent_id,
            number,
            due_at: due,
            note: req.note,
            origin_interaction_id: origin.as_ref().map(|i| i.id),
        },
        &auth.user.username,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(booked)))
}

/// Stores a callback and gives it to routing, parked until it is due (its agent first for
/// [`OWN_CALLBACK_WINDOW`]); a callback routing refuses is cancelled, not left half-booked.
pub(crate) async fn book(
    state: &AppState,
    t: i64,
    new: NewCallback,
    actor: &str,
) -> ApiResult<ScheduledCallback> {
    let link = routing(state)?;
    let booked = state.store.schedule_callback(t, &new, actor).await?;
    let mut spec = ContactSpec::new(
        ContactId(booked.interaction_id),
        QueueId(new.queue_id),
        Channel::Voice,
    );
    spec.callback_number = Some(new.number.clone());
    spec.preferred_agent = new.agent_id.map(AgentId);
    spec.preferred_for = new.agent_id.map(|_| OWN_CALLBACK_WINDOW);
    spec.not_before = Some(wall(new.due_at));
    if let Err(e) = link.input(hotline_acd::Input::Contact(spec)).await {
        // Nothing half-booked stays behind: the interaction is closed as cancelled.
        tracing::warn!(interaction = booked.interaction_id, error = %e, "routing refused a callback");
        let _ = state
            .store
            .cancel_callback(t, booked.interaction_id, "routing")
            .await;
        return Err(match e {
            hotline_acd::AcdError::Routing(e) => {
                ApiError::new(StatusCode::CONFLICT, "routing_refused", e.to_string())
            }
            e => unavailable(e),
        });
    }
    announce(state, &booked, "callback.scheduled");
    Ok(booked)
}

/// Tells the desks: the owner's (or, for the queue's, everyone's) callback list changed.
fn announce(state: &AppState, cb: &ScheduledCallback, kind: &str) {
    state.publish(LiveEvent::new(cb.tenant_id, cb.agent_id, kind, cb));
}

/// Callbacks by due time, earliest first: by default those still to be made. Agents see
/// their own; supervisors anyone's, or all.
#[utoipa::path(get, path = "/api/v1/callbacks", tag = "callbacks", params(CallbackParams),
    responses((status = 200, body = [ScheduledCallback]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    auth: Auth,
    Query(p): Query<CallbackParams>,
) -> ApiResult<Json<Vec<ScheduledCallback>>> {
    let t = auth.tenant_id();
    let limit = p.limit.unwrap_or(200);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request("invalid_query", "limit: 1 to 1000"));
    }
    let agent_id = if auth.user.role.at_least(Role::Supervisor) {
        p.agent_id
    } else {
        let me = state
            .store
            .get_agent_by_user(t, auth.user.id)
            .await
            .map_err(|_| ApiError::forbidden())?;
        if p.agent_id.is_some_and(|a| a != me.id) {
            return Err(ApiError::forbidden());
        }
        Some(me.id)
    };
    let filter = CallbackFilter {
        agent_id,
        open_only: !p.all.unwrap_or(false),
        from: parse_time("from", p.from.as_deref())?,
        to: parse_time("to", p.to.as_deref())?,
        limit,
    };
    Ok(Json(state.store.list_callbacks(t, &filter).await?))
}

/// Cancels a callback not yet being made. Its agent, whoever may change the contact it
/// came from, or a supervisor.
#[utoipa::path(delete, path = "/api/v1/callbacks/{id}", tag = "callbacks", params(("id" = i64, Path, description = "the callback's interaction")),
    responses((status = 200, body = ScheduledCallback), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 400, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn cancel(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
) -> ApiResult<Json<ScheduledCallback>> {
    let t = auth.tenant_id();
    let cb = state.store.callback(t, id).await?;
    if !auth.user.role.at_least(Role::Supervisor) {
        let me = state.store.get_agent_by_user(t, auth.user.id).await.ok();
        let mine = me.is_some_and(|a| Some(a.id) == cb.agent_id);
        if !mine {
            let origin = match cb.origin_interaction_id {
                Some(o) => Some(state.store.get_interaction(t, o).await?),
                None => None,
            };
            match origin {
                Some(o) => check_may_change(&state, &auth, &o).await?,
                None => return Err(ApiError::forbidden()),
            }
        }
    }
    if cb.state.is_final() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "callback_finished",
            "the callback is over already",
        ));
    }
    // Routing first: once an agent is talking to the customer it refuses, and the callback
    // stays as it is; an offer ringing is taken back.
    let link = routing(&state)?;
    match link
        .input(hotline_acd::Input::Cancelled(ContactId(id)))
        .await
    {
        Ok(()) | Err(hotline_acd::AcdError::Routing(RoutingError::UnknownContact(_))) => {}
        Err(hotline_acd::AcdError::Routing(_)) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "callback_in_progress",
                "the callback is being made; hang it up instead",
            ))
        }
        Err(e) => return Err(unavailable(e)),
    }
    let cb = state
        .store
        .cancel_callback(t, id, &auth.user.username)
        .await?;
    announce(&state, &cb, "callback.cancelled");
    Ok(Json(cb))
}
