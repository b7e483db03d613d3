//! The OpenAPI 3 document, generated from the handlers' annotations. It is served at
//! `GET /api/v1/openapi.json` and committed as `docs/openapi.json`; a test fails when the two
//! drift (regenerate with `cargo xtask openapi`).

use crate::routes::{
    admin, agents, auth, callbacks, catalog, customers, desk, flows, interactions, messages, site,
    system, telephony,
};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "Hotline API", description = "Hotline contact center: customers, interactions, agents, queues. Errors are `{\"error\":{\"code\",\"message\"}}` with stable codes.", license(name = "Apache-2.0")),
    paths(
        system::healthz,
        auth::login, auth::logout, auth::logout_all, auth::me,
        admin::get_tenant, admin::update_tenant, admin::list_tenants, admin::create_tenant, admin::update_any_tenant,
        admin::list_users, admin::create_user, admin::get_user, admin::update_user,
        admin::list_tokens, admin::create_token, admin::revoke_token,
        agents::list, agents::create, agents::get, agents::update, agents::delete, agents::presence, interactions::place_call, interactions::transfer, interactions::control, interactions::monitor, interactions::stop_monitor,
        catalog::list_queues, catalog::create_queue, catalog::get_queue, catalog::update_queue, catalog::delete_queue,
        catalog::list_dispositions, catalog::create_disposition, catalog::update_disposition, catalog::delete_disposition,
        catalog::list_scripts, catalog::create_script, catalog::get_script, catalog::update_script, catalog::delete_script,
        customers::search, customers::create, customers::lookup, customers::get, customers::card, customers::update,
        customers::add_identifier, customers::merge, customers::delete,
        interactions::list, interactions::create, interactions::get, interactions::update, interactions::events, interactions::append_event,
        telephony::list_trunks, telephony::create_trunk, telephony::delete_trunk,
        telephony::list_numbers, telephony::create_number, telephony::delete_number,
        telephony::list_routes, telephony::create_route, telephony::delete_route,
        flows::list, flows::get, flows::versions, flows::save, flows::check,
        flows::get_calendars, flows::put_calendars, flows::put_rows, flows::get_row,
        desk::wallboard, desk::agent_state, desk::wrap_up, desk::recording,
        callbacks::create, callbacks::list, callbacks::cancel,
        messages::list_accounts, messages::create_account, messages::delete_account,
        messages::list, messages::reply, messages::accept, messages::decline, messages::finish, messages::attachment,
        messages::typing,
        site::list_sites, site::create_site, site::delete_site,
        site::list_templates, site::create_template, site::delete_template,
        site::site_status, site::open_chat, site::leave_message, site::submit_form,
        site::visitor_socket, site::visitor_file, site::visitor_download,
        crate::events::stream,
    ),
    components(schemas(crate::events::LiveEvent)),
    modifiers(&Security),
    security(("bearer" = []), ("cookie" = [])),
    tags(
        (name = "auth", description = "Log-in sessions"),
        (name = "admin", description = "Tenant settings, users, API tokens"),
        (name = "agents", description = "Agents, skills, SIP credentials"),
        (name = "catalog", description = "Queues, dispositions, scripts"),
        (name = "customers", description = "The built-in CRM and the screen pop"),
        (name = "interactions", description = "Contacts on every channel and their timelines"),
        (name = "telephony", description = "The dial plan: trunks, numbers (DIDs), outbound routes"),
        (name = "flows", description = "Contact flows (IVR and self-service), calendars, lookup tables"),
        (name = "desk", description = "The workplace's live figures: wallboard, an agent's state, wrap-up, recordings"),
        (name = "callbacks", description = "Callbacks promised for a time: booked, listed by agent, cancelled"),
        (name = "messages", description = "Written channels: mailboxes, an interaction's messages and files, replies, taking and finishing written contacts"),
        (name = "web", description = "Company web sites: the chat widget, messages left, forms (public, CORS per site); sites and canned responses for admins"),
        (name = "events", description = "Live events over WebSocket"),
        (name = "system", description = "Health"),
    )
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(
                crate::auth::SESSION_COOKIE,
            ))),
        );
    }
}

/// The document as pretty JSON with a trailing newline, byte-identical run to run.
pub fn document_json() -> String {
    let mut text = ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|_| "{}".to_string());
    text.push('\n');
    text
}
