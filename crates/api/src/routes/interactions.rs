//! Interactions and their timelines.

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, ErrorBody, Json, Path, Query};
use crate::events::LiveEvent;
use crate::routes::{double_option, PageParams};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use hotline_model::{
    CallControl, Channel, Direction, Interaction, InteractionEvent, InteractionState, MonitorMode,
    Role,
};
use hotline_store::{InteractionFilter, InteractionPatch, NewEvent, NewInteraction};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InteractionCreate {
    pub channel: Channel,
    #[serde(default = "inbound")]
    pub direction: Direction,
    #[serde(default = "new_state")]
    pub state: InteractionState,
    pub customer_id: Option<i64>,
    pub queue_id: Option<i64>,
    pub agent_id: Option<i64>,
    pub subject: Option<String>,
    #[serde(default)]
    pub notes: String,
}

fn inbound() -> Direction {
    Direction::Inbound
}
fn new_state() -> InteractionState {
    InteractionState::New
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InteractionUpdate {
    pub state: Option<InteractionState>,
    /// `null` unlinks.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub customer_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub queue_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub agent_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub disposition_id: Option<Option<i64>>,
    pub subject: Option<String>,
    pub notes: Option<String>,
    pub recording_ref: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventCreate {
    /// a-z, 0-9, '_', '.', '-'; e.g. `ivr_step`, `note`, `crm_sync`.
    pub kind: String,
    /// A JSON object of at most 16 KiB.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub data: Value,
}

#[derive(Serialize, ToSchema)]
pub struct InteractionDetail {
    pub interaction: Interaction,
    pub events: Vec<InteractionEvent>,
}

#[derive(Serialize, ToSchema)]
pub struct InteractionPage {
    pub items: Vec<Interaction>,
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    pub customer_id: Option<i64>,
    pub queue_id: Option<i64>,
    pub agent_id: Option<i64>,
    pub disposition_id: Option<i64>,
    pub state: Option<InteractionState>,
    pub channel: Option<Channel>,
    /// RFC 3339; interactions created at or after.
    pub from: Option<String>,
    /// RFC 3339; interactions created before.
    pub to: Option<String>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    #[param(minimum = 0, maximum = 1000000)]
    pub offset: Option<i64>,
}

pub(crate) fn parse_time(field: &str, v: Option<&str>) -> ApiResult<Option<OffsetDateTime>> {
    v.map(|s| {
        OffsetDateTime::parse(s, &Rfc3339)
            .ok()
            .filter(|t| (1970..=9999).contains(&t.year()))
            .ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_query",
                    format!("{field}: an RFC 3339 time such as 2026-11-01T00:00:00Z"),
                )
            })
    })
    .transpose()
}

/// Agents act on their own interactions and unassigned ones; supervisors on all.
pub(crate) async fn check_may_change(
    state: &AppState,
    auth: &Auth,
    interaction: &Interaction,
) -> ApiResult<()> {
    if auth.user.role.at_least(Role::Supervisor) || interaction.agent_id.is_none() {
        return Ok(());
    }
    let mine = state
        .store
        .get_agent_by_user(auth.tenant_id(), auth.user.id)
        .await
        .ok()
        .map(|a| a.id);
    if mine.is_some() && mine == interaction.agent_id {
        Ok(())
    } else {
        Err(ApiError::forbidden())
    }
}

#[utoipa::path(get, path = "/api/v1/interactions", tag = "interactions", params(ListParams),
    responses((status = 200, body = InteractionPage), (status = 401, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    auth: Auth,
    Query(p): Query<ListParams>,
) -> ApiResult<Json<InteractionPage>> {
    let (limit, offset) = PageParams {
        limit: p.limit,
        offset: p.offset,
    }
    .checked()?;
    let filter = InteractionFilter {
        customer_id: p.customer_id,
        queue_id: p.queue_id,
        agent_id: p.agent_id,
        disposition_id: p.disposition_id,
        state: p.state,
        channel: p.channel,
        from: parse_time("from", p.from.as_deref())?,
        to: parse_time("to", p.to.as_deref())?,
        limit,
        offset,
    };
    let page = state
        .store
        .list_interactions(auth.tenant_id(), &filter)
        .await?;
    Ok(Json(InteractionPage {
        items: page.items,
        total: page.total,
        limit: page.limit,
        offset: page.offset,
    }))
}

#[utoipa::path(post, path = "/api/v1/interactions", tag = "interactions", request_body = InteractionCreate,
    responses((status = 201, body = InteractionDetail), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    auth: Auth,
    Json(r): Json<InteractionCreate>,
) -> ApiResult<(StatusCode, Json<InteractionDetail>)> {
    let new = NewInteraction {
        channel: r.channel,
        direction: r.direction,
        state: r.state,
        customer_id: r.customer_id,
        queue_id: r.queue_id,
        agent_id: r.agent_id,
        subject: r.subject,
        notes: r.notes,
        created_at: None,
    };
    let (interaction, event) = state
        .store
        .create_interaction(auth.tenant_id(), &new, &auth.actor())
        .await?;
    state.publish(LiveEvent::new(
        auth.tenant_id(),
        interaction.agent_id,
        "interaction.created",
        &interaction,
    ));
    Ok((
        StatusCode::CREATED,
        Json(InteractionDetail {
            interaction,
            events: vec![event],
        }),
    ))
}

#[utoipa::path(get, path = "/api/v1/interactions/{id}", tag = "interactions", params(("id" = i64, Path)),
    responses((status = 200, body = InteractionDetail), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
) -> ApiResult<Json<InteractionDetail>> {
    let interaction = state.store.get_interaction(auth.tenant_id(), id).await?;
    let events = state.store.list_events(auth.tenant_id(), id).await?;
    Ok(Json(InteractionDetail {
        interaction,
        events,
    }))
}

#[utoipa::path(patch, path = "/api/v1/interactions/{id}", tag = "interactions", params(("id" = i64, Path)), request_body = InteractionUpdate,
    responses((status = 200, body = InteractionDetail, description = "The interaction and the events this change appended"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
    Json(r): Json<InteractionUpdate>,
) -> ApiResult<Json<InteractionDetail>> {
    let current = state.store.get_interaction(auth.tenant_id(), id).await?;
    check_may_change(&state, &auth, &current).await?;
    let patch = InteractionPatch {
        state: r.state,
        customer_id: r.customer_id,
        queue_id: r.queue_id,
        agent_id: r.agent_id,
        disposition_id: r.disposition_id,
        subject: r.subject,
        notes: r.notes,
        recording_ref: r.recording_ref,
        at: None,
    };
    let (interaction, events) = state
        .store
        .update_interaction(auth.tenant_id(), id, &patch, &auth.actor())
        .await?;
    if !events.is_empty() {
        state.publish(LiveEvent::new(
            auth.tenant_id(),
            interaction.agent_id.or(current.agent_id),
            "interaction.updated",
            &InteractionDetail {
                interaction: interaction.clone(),
                events: events.clone(),
            },
        ));
    }
    Ok(Json(InteractionDetail {
        interaction,
        events,
    }))
}

#[utoipa::path(get, path = "/api/v1/interactions/{id}/events", tag = "interactions", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<InteractionEvent>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn events(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
) -> ApiResult<Json<Vec<InteractionEvent>>> {
    Ok(Json(state.store.list_events(auth.tenant_id(), id).await?))
}

#[utoipa::path(post, path = "/api/v1/interactions/{id}/events", tag = "interactions", params(("id" = i64, Path)), request_body = EventCreate,
    responses((status = 201, body = InteractionEvent), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn append_event(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
    Json(r): Json<EventCreate>,
) -> ApiResult<(StatusCode, Json<InteractionEvent>)> {
    let interaction = state.store.get_interaction(auth.tenant_id(), id).await?;
    check_may_change(&state, &auth, &interaction).await?;
    let data = if r.data.is_null() {
        Value::Object(Default::default())
    } else {
        r.data
    };
    let event = state
        .store
        .append_event(
            auth.tenant_id(),
            id,
            &NewEvent {
                kind: r.kind,
                actor: auth.actor(),
                data,
                at: None,
            },
        )
        .await?;
    state.publish(LiveEvent::new(
        auth.tenant_id(),
        interaction.agent_id,
        "interaction.event",
        &event,
    ));
    Ok((StatusCode::CREATED, Json(event)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallCreate {
    /// The number as typed (read in the tenant's region): `8 (495) 123-45-67`, `+7 495 ...`.
    pub number: String,
    /// The agent whose phone rings first; the caller's own agent when left out (supervisors
    /// may name any agent of the tenant).
    pub agent_id: Option<i64>,
    /// The customer the call is about; otherwise recognised by the number.
    pub customer_id: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct CallPlaced {
    /// The outbound interaction; its timeline tells how the call goes.
    pub interaction_id: i64,
}

/// Click-to-call: rings the agent's phone, then the number for them. Answers as soon as the
/// call is placed (202); the interaction's timeline and the live events tell the rest.
#[utoipa::path(post, path = "/api/v1/calls", tag = "interactions", request_body = CallCreate,
    responses((status = 202, body = CallPlaced), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 400, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn place_call(
    State(state): State<AppState>,
    auth: Auth,
    Json(req): Json<CallCreate>,
) -> ApiResult<(StatusCode, Json<CallPlaced>)> {
    let t = auth.tenant_id();
    let number = req.number.trim().to_string();
    if number.is_empty() || number.chars().count() > 40 || number.chars().any(char::is_control) {
        let mut e = ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_phone",
            "a phone number of at most 40 characters is needed",
        );
        e.field = Some("number".into());
        return Err(e);
    }
    let own = state.store.get_agent_by_user(t, auth.user.id).await.ok();
    let agent_id = match (req.agent_id, own) {
        (Some(id), Some(me)) if id == me.id => id,
        (Some(id), _) => {
            auth.require(Role::Supervisor)?;
            state.store.get_agent(t, id).await?.id
        }
        (None, Some(me)) => me.id,
        (None, None) => {
            let mut e = ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "agent_required",
                "you are not an agent: name the agent whose phone rings",
            );
            e.field = Some("agent_id".into());
            return Err(e);
        }
    };
    if let Some(c) = req.customer_id {
        state.store.get_customer(t, c).await?;
    }
    let Some(dialer) = state.dialer.as_ref() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "telephony_unavailable",
            "telephony is not running in this server",
        ));
    };
    match dialer
        .click_to_call(t, agent_id, number, req.customer_id)
        .await
    {
        Ok(interaction_id) => Ok((StatusCode::ACCEPTED, Json(CallPlaced { interaction_id }))),
        Err(r) => {
            let status = match r.code {
                "telephony_unavailable" => StatusCode::SERVICE_UNAVAILABLE,
                // Known to the store but not yet to telephony (it rereads agents every few
                // seconds).
                "unknown_agent" => StatusCode::CONFLICT,
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            };
            Err(ApiError::new(status, r.code, r.message))
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferCreate {
    /// The agent who takes the call (routing offers it to them first).
    pub agent_id: Option<i64>,
    /// The queue the call goes to (it waits there like any other call).
    pub queue_id: Option<i64>,
    /// A number to put the caller through to (a company specialist), dialled through the
    /// tenant's outbound route; if it does not answer, the call comes back to its queue with
    /// the transferring agent first.
    pub number: Option<String>,
}

/// Blind transfer of a live call to another agent, a queue or a number: the current agent is
/// let go (wrap-up) and the caller hears music (ringback for a number) until the target
/// takes the call. Exactly one target. The agent on the call or a supervisor may ask.
#[utoipa::path(post, path = "/api/v1/interactions/{id}/transfer", tag = "interactions", params(("id" = i64, Path)), request_body = TransferCreate,
    responses((status = 202, body = CallPlaced), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 400, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn transfer(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
    Json(req): Json<TransferCreate>,
) -> ApiResult<(StatusCode, Json<CallPlaced>)> {
    let t = auth.tenant_id();
    let command = match (req.agent_id, req.queue_id, req.number) {
        (Some(a), None, None) => {
            state.store.get_agent(t, a).await?;
            CallControl::TransferToAgent(a)
        }
        (None, Some(q), None) => {
            state.store.get_queue(t, q).await?;
            CallControl::TransferToQueue(q)
        }
        (None, None, Some(n)) => CallControl::TransferToNumber(target_number(&state, t, &n).await?),
        _ => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "one_target_required",
                "name exactly one of agent_id, queue_id and number",
            ))
        }
    };
    run_control(&state, &auth, id, command).await
}

/// What the desk does to a live call.
#[derive(Deserialize, ToSchema, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ControlAction {
    /// The caller hears music; the agent's phone stays connected.
    Hold,
    Resume,
    /// Ends the call for everyone on it.
    HangUp,
    /// The caller waits with music while the agent talks to `number` or `agent_id`.
    Consult,
    /// The caller joins the consultation: the three talk.
    Conference,
    /// The agent leaves the consultation or conference; the caller and the third talk on.
    CompleteTransfer,
    /// The third is let go; the caller and the agent talk again.
    CancelConsult,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ControlCreate {
    pub action: ControlAction,
    /// For `consult`: another agent of the tenant to talk to (their phone is rung)...
    pub agent_id: Option<i64>,
    /// ...or a number (a company specialist), dialled through the tenant's outbound route.
    pub number: Option<String>,
}

/// Call control from the desk on a live call an agent has answered: hold, resume, hang up,
/// consult a specialist or another agent, conference, complete or cancel the consultation.
/// The agent on the call or a supervisor may ask. 409 `not_allowed_now` when the call's
/// state does not allow it (e.g. resume without hold), `call_not_live` when the call is not
/// live in this server.
#[utoipa::path(post, path = "/api/v1/interactions/{id}/control", tag = "interactions", params(("id" = i64, Path)), request_body = ControlCreate,
    responses((status = 202, body = CallPlaced), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 400, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn control(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
    Json(req): Json<ControlCreate>,
) -> ApiResult<(StatusCode, Json<CallPlaced>)> {
    let t = auth.tenant_id();
    let targets = req.agent_id.is_some() as u8 + req.number.is_some() as u8;
    let command = match req.action {
        ControlAction::Consult => match (req.agent_id, req.number) {
            (Some(a), None) => {
                state.store.get_agent(t, a).await?;
                CallControl::ConsultAgent(a)
            }
            (None, Some(n)) => CallControl::ConsultNumber(target_number(&state, t, &n).await?),
            _ => {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "one_target_required",
                    "a consultation needs exactly one of agent_id and number",
                ))
            }
        },
        _ if targets > 0 => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unexpected_target",
                "only consult takes agent_id or number",
            ))
        }
        ControlAction::Hold => CallControl::Hold,
        ControlAction::Resume => CallControl::Resume,
        ControlAction::HangUp => CallControl::HangUp,
        ControlAction::Conference => CallControl::Conference,
        ControlAction::CompleteTransfer => CallControl::CompleteTransfer,
        ControlAction::CancelConsult => CallControl::CancelConsult,
    };
    run_control(&state, &auth, id, command).await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MonitorCreate {
    /// `listen` (nobody hears the supervisor), `whisper` (only the agent does) or `barge`
    /// (all three talk).
    pub mode: MonitorMode,
}

/// A supervisor on an agent's live call: Hotline rings the supervisor's own phone (the
/// phone of their agent record) and, once it answers, mixes it into the call in `mode`.
/// Asked again while on the call, only the mode changes (listen → whisper → barge). The
/// recording holds the supervisor only when somebody hears them. The agent's hold, transfer
/// or consultation lets the supervisor go. Supervisors and admins only; 422 `no_phone` when
/// the supervisor has no agent record (phone), 409 `not_allowed_now` when the call is not
/// with an agent, on hold, in a consultation, or another supervisor is on it.
#[utoipa::path(post, path = "/api/v1/interactions/{id}/monitor", tag = "interactions", params(("id" = i64, Path)), request_body = MonitorCreate,
    responses((status = 202, body = CallPlaced), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 400, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn monitor(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
    Json(req): Json<MonitorCreate>,
) -> ApiResult<(StatusCode, Json<CallPlaced>)> {
    let supervisor = supervisor_phone(&state, &auth).await?;
    let command = CallControl::Monitor {
        supervisor,
        mode: req.mode,
    };
    run_control(&state, &auth, id, command).await
}

/// The supervisor's phone leaves the call they monitor; the caller and the agent talk on.
#[utoipa::path(delete, path = "/api/v1/interactions/{id}/monitor", tag = "interactions", params(("id" = i64, Path)),
    responses((status = 202, body = CallPlaced), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn stop_monitor(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
) -> ApiResult<(StatusCode, Json<CallPlaced>)> {
    let supervisor = supervisor_phone(&state, &auth).await?;
    run_control(&state, &auth, id, CallControl::StopMonitor { supervisor }).await
}

/// The asking supervisor's agent record (whose phone joins calls they monitor).
async fn supervisor_phone(state: &AppState, auth: &Auth) -> ApiResult<i64> {
    auth.require(Role::Supervisor)?;
    match state
        .store
        .get_agent_by_user(auth.tenant_id(), auth.user.id)
        .await
    {
        Ok(a) => Ok(a.id),
        Err(e) if !matches!(e, hotline_store::StoreError::NotFound) => Err(e.into()),
        Err(_) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "no_phone",
            "monitoring rings the supervisor's own phone: give this user an agent record with an extension",
        )),
    }
}

/// A number to dial for the desk, read in the tenant's region.
async fn target_number(state: &AppState, tenant: i64, number: &str) -> ApiResult<String> {
    let region = state.store.get_tenant(tenant).await?.default_region;
    let number = number.trim();
    let valid =
        !number.is_empty() && number.chars().count() <= 40 && !number.chars().any(char::is_control);
    match hotline_model::phone::normalize_phone(number, &region) {
        Ok(n) if valid => Ok(n),
        _ => {
            let mut e = ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_phone",
                "not a phone number that can be dialled",
            );
            e.field = Some("number".into());
            Err(e)
        }
    }
}

/// Checks who asks about which call, then hands the command to telephony.
async fn run_control(
    state: &AppState,
    auth: &Auth,
    id: i64,
    command: CallControl,
) -> ApiResult<(StatusCode, Json<CallPlaced>)> {
    let t = auth.tenant_id();
    let interaction = state.store.get_interaction(t, id).await?;
    let own = state.store.get_agent_by_user(t, auth.user.id).await.ok();
    if own.as_ref().map(|a| a.id) != interaction.agent_id || interaction.agent_id.is_none() {
        auth.require(Role::Supervisor)?;
    }
    if interaction.channel != Channel::Voice || interaction.state.is_final() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_transferable",
            "only a live call can be controlled",
        ));
    }
    let Some(dialer) = state.dialer.as_ref() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "telephony_unavailable",
            "telephony is not running in this server",
        ));
    };
    tracing::info!(interaction = id, "call control asked by the desk");
    dialer
        .control(id, command)
        .await
        .map_err(|r| ApiError::new(StatusCode::CONFLICT, r.code, r.message))?;
    Ok((
        StatusCode::ACCEPTED,
        Json(CallPlaced { interaction_id: id }),
    ))
}
