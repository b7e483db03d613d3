//! Phones' SIP registrations: the registrar's table, kept so a restart does not lose where each
//! extension is reachable.

use crate::{on_pool, on_writer, Result, Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SipRegistration {
    pub tenant_id: i64,
    /// The address-of-record: the agent's extension.
    pub aor: String,
    pub contact: String,
    /// Wall-clock UTC milliseconds.
    pub expires_at: i64,
    pub q: i64,
    pub call_id: String,
    pub cseq: i64,
    /// Where the phone's REGISTER came from (`udp:ip:port`): how it is reached behind NAT.
    pub source: String,
}

impl Store {
    /// Replaces the bindings of one address-of-record (an empty list removes them).
    pub async fn replace_registrations(
        &self,
        tenant_id: i64,
        aor: &str,
        bindings: &[SipRegistration],
    ) -> Result<()> {
        if bindings
            .iter()
            .any(|b| b.tenant_id != tenant_id || b.aor != aor)
        {
            return Err(StoreError::Invalid(hotline_model::InvalidInput::new(
                "bindings",
                "every binding belongs to the tenant and AOR replaced",
            )));
        }
        on_writer!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query("DELETE FROM sip_registrations WHERE tenant_id = $1 AND aor = $2")
                .bind(tenant_id).bind(aor).execute(&mut *tx).await?;
            for b in bindings {
                sqlx::query(
                    "INSERT INTO sip_registrations (tenant_id, aor, contact, expires_at, q, call_id, cseq, source)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
                    .bind(b.tenant_id).bind(&b.aor).bind(&b.contact).bind(b.expires_at).bind(b.q)
                    .bind(&b.call_id).bind(b.cseq).bind(&b.source)
                    .execute(&mut *tx).await?;
            }
            tx.commit().await
        })?;
        Ok(())
    }

    /// Every binding that has not expired at `now_ms`, by tenant and AOR.
    pub async fn live_registrations(&self, now_ms: i64) -> Result<Vec<SipRegistration>> {
        Ok(on_pool!(self, p => sqlx::query_as::<_, SipRegistration>(
            "SELECT tenant_id, aor, contact, expires_at, q, call_id, cseq, source FROM sip_registrations
             WHERE expires_at > $1 ORDER BY tenant_id, aor, q DESC, expires_at DESC")
            .bind(now_ms).fetch_all(p).await)?)
    }

    /// The live bindings of one extension.
    pub async fn registrations_of(
        &self,
        tenant_id: i64,
        aor: &str,
        now_ms: i64,
    ) -> Result<Vec<SipRegistration>> {
        Ok(on_pool!(self, p => sqlx::query_as::<_, SipRegistration>(
            "SELECT tenant_id, aor, contact, expires_at, q, call_id, cseq, source FROM sip_registrations
             WHERE tenant_id = $1 AND aor = $2 AND expires_at > $3 ORDER BY q DESC, expires_at DESC")
            .bind(tenant_id).bind(aor).bind(now_ms).fetch_all(p).await)?)
    }

    /// Removes bindings expired at `now_ms`; returns how many.
    pub async fn sweep_registrations(&self, now_ms: i64) -> Result<u64> {
        let n = on_writer!(self, p => sqlx::query("DELETE FROM sip_registrations WHERE expires_at <= $1")
            .bind(now_ms).execute(p).await.map(|r| r.rows_affected()))?;
        Ok(n)
    }
}
