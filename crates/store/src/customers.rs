//! The built-in CRM: customers with their identifiers (E.164 phones, lower-cased e-mails).
//!
//! An identifier belongs to at most one customer of a tenant (a unique key), so recognising a
//! caller is one indexed look-up. Merging moves identifiers and interactions to the survivor and
//! marks the absorbed customer `merged_into`, so both histories stay and old ids still resolve.

use crate::{
    from_ms, like_contains, now_ms, on_pool, on_writer, placeholders, Page, Result, Store,
    StoreError,
};
use hotline_model::email::normalize_email;
use hotline_model::phone::normalize_phone;
use hotline_model::{validate, Customer, Identifier, IdentifierKind, InvalidInput};
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default)]
pub struct NewCustomer {
    pub name: String,
    pub company: Option<String>,
    pub vip: bool,
    pub tags: Vec<String>,
    pub custom_fields: BTreeMap<String, Value>,
    pub notes: String,
    /// As typed: normalised to E.164 in the tenant's default region.
    pub phones: Vec<String>,
    pub emails: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct CustomerPatch {
    pub name: Option<String>,
    /// `Some(None)` clears the company.
    pub company: Option<Option<String>>,
    pub vip: Option<bool>,
    pub tags: Option<Vec<String>>,
    /// Replaces all custom fields when given.
    pub custom_fields: Option<BTreeMap<String, Value>>,
    pub notes: Option<String>,
    /// Replace the customer's phones / e-mails when given.
    pub phones: Option<Vec<String>>,
    pub emails: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default)]
pub struct CustomerQuery {
    /// Matches name, company, or any identifier (a phone in any notation, part of an e-mail).
    pub q: Option<String>,
    pub vip: Option<bool>,
    pub tag: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

/// A `customers` row as stored (JSON columns still text).
#[derive(sqlx::FromRow)]
pub(crate) struct CustomerRowData {
    pub id: i64,
    pub tenant_id: i64,
    pub name: String,
    pub company: Option<String>,
    pub vip: bool,
    pub tags: String,
    pub custom_fields: String,
    pub notes: String,
    pub merged_into: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

type CustomerRow = CustomerRowData;

const COLUMNS: &str =
    "c.id, c.tenant_id, c.name, c.company, c.vip, c.tags, c.custom_fields, c.notes, c.merged_into, c.created_at, c.updated_at";

/// Limits that keep one card readable and one row bounded.
const MAX_TAGS: usize = 50;
const MAX_FIELDS: usize = 100;
const MAX_IDENTIFIERS: usize = 20;
/// Rows per multi-row INSERT (7 parameters each: well within both dialects' limits).
const INSERT_CHUNK: usize = 200;

fn check_tags(tags: &[String]) -> Result<Vec<String>, InvalidInput> {
    let mut out: Vec<String> = Vec::new();
    for t in tags {
        let t = validate::required_text("tags", t, 64)?;
        if t.contains('"') || t.contains('\\') {
            return Err(InvalidInput::new(
                "tags",
                "a tag holds no quotes or backslashes",
            ));
        }
        if !out.contains(&t) {
            out.push(t);
        }
    }
    if out.len() > MAX_TAGS {
        return Err(InvalidInput::new(
            "tags",
            format!("at most {MAX_TAGS} tags"),
        ));
    }
    Ok(out)
}

fn check_fields(fields: &BTreeMap<String, Value>) -> Result<(), InvalidInput> {
    if fields.len() > MAX_FIELDS {
        return Err(InvalidInput::new(
            "custom_fields",
            format!("at most {MAX_FIELDS} fields"),
        ));
    }
    for (k, v) in fields {
        validate::token("custom_fields", k, 64)?;
        match v {
            Value::String(s) if s.chars().count() <= 2000 => {}
            Value::Number(_) | Value::Bool(_) | Value::Null => {}
            _ => {
                return Err(InvalidInput::new(
                    "custom_fields",
                    format!("field {k:?}: a value is a string of at most 2000 characters, a number, true/false or null"),
                ))
            }
        }
    }
    Ok(())
}

/// Normalises phones and e-mails as typed into identifiers, without duplicates.
pub fn identifiers_from(
    phones: &[String],
    emails: &[String],
    region: &str,
) -> Result<Vec<Identifier>, InvalidInput> {
    let mut out: Vec<Identifier> = Vec::new();
    for p in phones {
        let value = normalize_phone(p, region)
            .map_err(|e| InvalidInput::new("phones", format!("{p:?}: {}", e.message)))?;
        let id = Identifier {
            kind: IdentifierKind::Phone,
            value,
        };
        if !out.contains(&id) {
            out.push(id);
        }
    }
    for e in emails {
        let value = normalize_email(e)
            .map_err(|err| InvalidInput::new("emails", format!("{e:?}: {}", err.message)))?;
        let id = Identifier {
            kind: IdentifierKind::Email,
            value,
        };
        if !out.contains(&id) {
            out.push(id);
        }
    }
    if out.len() > MAX_IDENTIFIERS {
        return Err(InvalidInput::new(
            "identifiers",
            format!("at most {MAX_IDENTIFIERS} phones and e-mails"),
        ));
    }
    Ok(out)
}

fn customer_from(r: CustomerRow, identifiers: Vec<Identifier>) -> Customer {
    Customer {
        identifiers,
        id: r.id,
        tenant_id: r.tenant_id,
        name: r.name,
        company: r.company,
        vip: r.vip,
        tags: serde_json::from_str(&r.tags).unwrap_or_default(),
        custom_fields: serde_json::from_str(&r.custom_fields).unwrap_or_default(),
        notes: r.notes,
        merged_into: r.merged_into,
        created_at: from_ms(r.created_at),
        updated_at: from_ms(r.updated_at),
    }
}

fn search_name(name: &str, company: Option<&str>) -> String {
    match company {
        Some(c) => format!("{} {}", name.to_lowercase(), c.to_lowercase()),
        None => name.to_lowercase(),
    }
}

fn identifier_conflict(e: sqlx::Error) -> StoreError {
    match StoreError::from(e) {
        StoreError::Conflict {
            code: "already_exists",
            ..
        } => StoreError::conflict(
            "identifier_taken",
            "this phone or e-mail already belongs to another customer",
        ),
        other => other,
    }
}

impl Store {
    async fn region_of(&self, tenant_id: i64) -> Result<String> {
        Ok(self.get_tenant(tenant_id).await?.default_region)
    }

    pub async fn create_customer(&self, tenant_id: i64, new: &NewCustomer) -> Result<Customer> {
        let region = self.region_of(tenant_id).await?;
        let ids = identifiers_from(&new.phones, &new.emails, &region)?;
        self.insert_customer(tenant_id, new, &ids, now_ms()).await
    }

    /// Inserts a customer with already-normalised identifiers (demo data and imports).
    pub async fn insert_customer(
        &self,
        tenant_id: i64,
        new: &NewCustomer,
        ids: &[Identifier],
        at_ms: i64,
    ) -> Result<Customer> {
        let created = self
            .insert_customers(tenant_id, &[(new.clone(), ids.to_vec())], at_ms)
            .await?;
        self.get_customer(tenant_id, created[0]).await
    }

    /// Inserts many customers with already-normalised identifiers in one transaction (imports);
    /// all or nothing. Returns their ids.
    pub async fn bulk_insert_customers(
        &self,
        tenant_id: i64,
        batch: &[(NewCustomer, Vec<Identifier>)],
    ) -> Result<Vec<i64>> {
        self.insert_customers(tenant_id, batch, now_ms()).await
    }

    async fn insert_customers(
        &self,
        tenant_id: i64,
        batch: &[(NewCustomer, Vec<Identifier>)],
        at_ms: i64,
    ) -> Result<Vec<i64>> {
        struct Row<'a> {
            name: String,
            company: Option<String>,
            search: String,
            vip: bool,
            tags: String,
            fields: String,
            notes: String,
            ids: &'a [Identifier],
        }
        let mut rows = Vec::with_capacity(batch.len());
        for (new, ids) in batch {
            let name = validate::required_text("name", &new.name, 200)?;
            let company = new
                .company
                .as_deref()
                .map(|c| validate::optional_text("company", c, 200))
                .transpose()?
                .flatten();
            let tags = check_tags(&new.tags)?;
            check_fields(&new.custom_fields)?;
            rows.push(Row {
                search: search_name(&name, company.as_deref()),
                name,
                company,
                vip: new.vip,
                tags: serde_json::to_string(&tags).unwrap_or_else(|_| "[]".into()),
                fields: serde_json::to_string(&new.custom_fields).unwrap_or_else(|_| "{}".into()),
                notes: validate::long_text("notes", &new.notes, 64 * 1024)?,
                ids,
            });
        }
        // Multi-row statements: one INSERT per chunk of customers, one per chunk of identifiers.
        // Ids come back in VALUES order (both engines assign them row by row, ascending), so
        // the sorted ids pair with the chunk's rows.
        on_writer!(self, p => {
            let mut tx = p.begin().await?;
            let mut created = Vec::with_capacity(rows.len());
            for chunk in rows.chunks(INSERT_CHUNK) {
                let values = (0..chunk.len())
                    .map(|k| {
                        let b = 3 + k * 7;
                        format!("($1, ${}, ${}, ${}, ${}, ${}, ${}, ${}, $2, $2)", b, b + 1, b + 2, b + 3, b + 4, b + 5, b + 6)
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                let sql = format!(
                    "INSERT INTO customers (tenant_id, name, company, search_name, vip, tags, custom_fields, notes, created_at, updated_at)
                     VALUES {values} RETURNING id"
                );
                let mut q = sqlx::query_as::<_, (i64,)>(&sql).bind(tenant_id).bind(at_ms);
                for r in chunk {
                    q = q.bind(&r.name).bind(&r.company).bind(&r.search).bind(r.vip).bind(&r.tags).bind(&r.fields).bind(&r.notes);
                }
                let mut ids: Vec<i64> = q.fetch_all(&mut *tx).await?.into_iter().map(|r| r.0).collect();
                ids.sort_unstable();
                let idents: Vec<(i64, &Identifier)> = chunk.iter().zip(&ids).flat_map(|(r, id)| r.ids.iter().map(move |i| (*id, i))).collect();
                for part in idents.chunks(INSERT_CHUNK) {
                    let values = (0..part.len())
                        .map(|k| format!("($1, ${}, ${}, ${})", 2 + k * 3, 3 + k * 3, 4 + k * 3))
                        .collect::<Vec<_>>()
                        .join(", ");
                    let sql = format!("INSERT INTO customer_identifiers (tenant_id, customer_id, kind, value) VALUES {values}");
                    let mut q = sqlx::query(&sql).bind(tenant_id);
                    for (id, i) in part {
                        q = q.bind(*id).bind(i.kind.as_str()).bind(&i.value);
                    }
                    q.execute(&mut *tx).await?;
                }
                created.extend(ids);
            }
            tx.commit().await?;
            Ok::<Vec<i64>, sqlx::Error>(created)
        })
        .map_err(identifier_conflict)
    }

    pub async fn get_customer(&self, tenant_id: i64, id: i64) -> Result<Customer> {
        let sql = format!("SELECT {COLUMNS} FROM customers c WHERE c.tenant_id = $1 AND c.id = $2");
        let row: CustomerRow =
            on_pool!(self, p => sqlx::query_as(&sql).bind(tenant_id).bind(id).fetch_one(p).await)?;
        Ok(self.hydrate(vec![row]).await?.remove(0))
    }

    /// Loads identifiers for a batch of rows in one query.
    async fn hydrate(&self, rows: Vec<CustomerRow>) -> Result<Vec<Customer>> {
        let mut ids: BTreeMap<i64, Vec<Identifier>> = BTreeMap::new();
        if !rows.is_empty() {
            let sql = format!(
                "SELECT customer_id, kind, value FROM customer_identifiers WHERE customer_id IN ({}) ORDER BY kind DESC, id",
                placeholders(1, rows.len())
            );
            let found: Vec<(i64, String, String)> = on_pool!(self, p => {
                let mut q = sqlx::query_as(&sql);
                for r in &rows {
                    q = q.bind(r.id);
                }
                q.fetch_all(p).await
            })?;
            for (cid, kind, value) in found {
                ids.entry(cid).or_default().push(Identifier {
                    kind: kind.parse()?,
                    value,
                });
            }
        }
        Ok(rows
            .into_iter()
            .map(|r| {
                let found = ids.remove(&r.id).unwrap_or_default();
                customer_from(r, found)
            })
            .collect())
    }

    pub async fn update_customer(
        &self,
        tenant_id: i64,
        id: i64,
        patch: &CustomerPatch,
    ) -> Result<Customer> {
        let c = self.get_customer(tenant_id, id).await?;
        if c.merged_into.is_some() {
            return Err(StoreError::conflict(
                "customer_merged",
                "this customer was merged into another; edit that one",
            ));
        }
        let name = match &patch.name {
            Some(n) => validate::required_text("name", n, 200)?,
            None => c.name,
        };
        let company = match &patch.company {
            Some(Some(co)) => validate::optional_text("company", co, 200)?,
            Some(None) => None,
            None => c.company,
        };
        let tags = check_tags(patch.tags.as_ref().unwrap_or(&c.tags))?;
        let fields = patch.custom_fields.clone().unwrap_or(c.custom_fields);
        check_fields(&fields)?;
        let notes = match &patch.notes {
            Some(n) => validate::long_text("notes", n, 64 * 1024)?,
            None => c.notes,
        };
        let new_ids = if patch.phones.is_some() || patch.emails.is_some() {
            let region = self.region_of(tenant_id).await?;
            let keep = |kind: IdentifierKind| -> Vec<String> {
                c.identifiers
                    .iter()
                    .filter(|i| i.kind == kind)
                    .map(|i| i.value.clone())
                    .collect()
            };
            let phones = patch
                .phones
                .clone()
                .unwrap_or_else(|| keep(IdentifierKind::Phone));
            let emails = patch
                .emails
                .clone()
                .unwrap_or_else(|| keep(IdentifierKind::Email));
            Some(identifiers_from(&phones, &emails, &region)?)
        } else {
            None
        };
        let tags_json = serde_json::to_string(&tags).unwrap_or_else(|_| "[]".into());
        let fields_json = serde_json::to_string(&fields).unwrap_or_else(|_| "{}".into());
        let search = search_name(&name, company.as_deref());
        let vip = patch.vip.unwrap_or(c.vip);
        on_writer!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query(
                "UPDATE customers SET name = $3, company = $4, search_name = $5, vip = $6, tags = $7,
                    custom_fields = $8, notes = $9, updated_at = $10 WHERE tenant_id = $1 AND id = $2")
                .bind(tenant_id).bind(id).bind(&name).bind(&company).bind(&search).bind(vip)
                .bind(&tags_json).bind(&fields_json).bind(&notes).bind(now_ms())
                .execute(&mut *tx).await?;
            if let Some(ids) = &new_ids {
                sqlx::query("DELETE FROM customer_identifiers WHERE tenant_id = $1 AND customer_id = $2")
                    .bind(tenant_id).bind(id).execute(&mut *tx).await?;
                for i in ids {
                    sqlx::query("INSERT INTO customer_identifiers (tenant_id, customer_id, kind, value) VALUES ($1, $2, $3, $4)")
                        .bind(tenant_id).bind(id).bind(i.kind.as_str()).bind(&i.value).execute(&mut *tx).await?;
                }
            }
            tx.commit().await
        })
        .map_err(identifier_conflict)?;
        self.get_customer(tenant_id, id).await
    }

    /// Adds one phone or e-mail (as typed) to a customer, e.g. to link an unknown caller's number.
    pub async fn add_identifier(
        &self,
        tenant_id: i64,
        id: i64,
        kind: hotline_model::IdentifierKind,
        value: &str,
    ) -> Result<Customer> {
        let c = self.get_customer(tenant_id, id).await?;
        let mut phones: Vec<String> = c
            .identifiers
            .iter()
            .filter(|i| i.kind == IdentifierKind::Phone)
            .map(|i| i.value.clone())
            .collect();
        let mut emails: Vec<String> = c
            .identifiers
            .iter()
            .filter(|i| i.kind == IdentifierKind::Email)
            .map(|i| i.value.clone())
            .collect();
        match kind {
            IdentifierKind::Phone => phones.push(value.to_string()),
            IdentifierKind::Email => emails.push(value.to_string()),
        }
        self.update_customer(
            tenant_id,
            id,
            &CustomerPatch {
                phones: Some(phones),
                emails: Some(emails),
                ..Default::default()
            },
        )
        .await
    }

    /// Deletes a customer that has no interactions; one with history can only be merged.
    pub async fn delete_customer(&self, tenant_id: i64, id: i64) -> Result<()> {
        let r = on_writer!(self, p => sqlx::query("DELETE FROM customers WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id).bind(id).execute(p).await.map(|r| r.rows_affected()))
        .map_err(|e| match StoreError::from(e) {
            StoreError::Conflict { .. } => StoreError::conflict("customer_has_history", "the customer has interactions or merged customers; merge instead of deleting"),
            other => other,
        })?;
        if r == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// The customer an identifier (already normalised) belongs to, following merges.
    pub async fn find_by_identifier(
        &self,
        tenant_id: i64,
        kind: IdentifierKind,
        value: &str,
    ) -> Result<Option<Customer>> {
        let mut customer = match &self.reader {
            Some(reader) => {
                let Some(found) = reader
                    .find_by_identifier(tenant_id, kind.as_str(), value)
                    .map_err(StoreError::Sqlite)?
                else {
                    return Ok(None);
                };
                let ids = found
                    .identifiers
                    .into_iter()
                    .map(|(k, v)| {
                        Ok(Identifier {
                            kind: k.parse()?,
                            value: v,
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                customer_from(found.row, ids)
            }
            None => match self.find_by_identifier_sqlx(tenant_id, kind, value).await? {
                Some(c) => c,
                None => return Ok(None),
            },
        };
        // Identifiers move on merge, so this only follows links for rows written otherwise.
        if customer.merged_into.is_some() {
            customer = self.follow_merges(tenant_id, customer).await?;
        }
        Ok(Some(customer))
    }

    /// The customer a merged one now lives on (a few hops at most; a cycle cannot be written).
    pub(crate) async fn follow_merges(
        &self,
        tenant_id: i64,
        mut customer: Customer,
    ) -> Result<Customer> {
        for _ in 0..8 {
            match customer.merged_into {
                Some(next) => customer = self.get_customer(tenant_id, next).await?,
                None => break,
            }
        }
        Ok(customer)
    }

    async fn find_by_identifier_sqlx(
        &self,
        tenant_id: i64,
        kind: IdentifierKind,
        value: &str,
    ) -> Result<Option<Customer>> {
        // One round trip: the customer, repeated once per identifier it has.
        #[derive(sqlx::FromRow)]
        struct Joined {
            #[sqlx(flatten)]
            customer: CustomerRow,
            ident_kind: String,
            ident_value: String,
        }
        let sql = format!(
            "SELECT {COLUMNS}, a.kind AS ident_kind, a.value AS ident_value
             FROM customer_identifiers i JOIN customers c ON c.id = i.customer_id
             JOIN customer_identifiers a ON a.customer_id = c.id
             WHERE i.tenant_id = $1 AND i.kind = $2 AND i.value = $3
             ORDER BY a.kind DESC, a.id"
        );
        let rows: Vec<Joined> = on_pool!(self, p => sqlx::query_as(&sql)
            .bind(tenant_id).bind(kind.as_str()).bind(value).fetch_all(p).await)?;
        let mut ids = Vec::with_capacity(rows.len());
        let mut first = None;
        for r in rows {
            ids.push(Identifier {
                kind: r.ident_kind.parse()?,
                value: r.ident_value,
            });
            first.get_or_insert(r.customer);
        }
        Ok(first.map(|row| customer_from(row, ids)))
    }

    /// Recognises a caller or writer: `phone` is read in the tenant's region, `email` normalised.
    pub async fn lookup_customer(
        &self,
        tenant_id: i64,
        region: &str,
        phone: Option<&str>,
        email: Option<&str>,
    ) -> Result<Option<Customer>> {
        if let Some(p) = phone {
            let value = normalize_phone(p, region)?;
            if let Some(c) = self
                .find_by_identifier(tenant_id, IdentifierKind::Phone, &value)
                .await?
            {
                return Ok(Some(c));
            }
        }
        if let Some(e) = email {
            let value = normalize_email(e)?;
            return self
                .find_by_identifier(tenant_id, IdentifierKind::Email, &value)
                .await;
        }
        Ok(None)
    }

    /// Searches live (not merged) customers by name, company, phone (any notation) or e-mail.
    pub async fn search_customers(
        &self,
        tenant_id: i64,
        query: &CustomerQuery,
    ) -> Result<Page<Customer>> {
        let region = self.region_of(tenant_id).await?;
        let q = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
        let name_pattern = q.map(|q| like_contains(&q.to_lowercase()));
        // A phone in any notation matches its E.164 form; otherwise digits match part of a number.
        let ident_pattern = q.map(|q| match normalize_phone(q, &region) {
            Ok(e164) => like_contains(&e164),
            Err(_) if q.chars().all(|c| c.is_ascii_digit() || " +-()".contains(c)) => {
                like_contains(&q.chars().filter(char::is_ascii_digit).collect::<String>())
            }
            Err(_) => like_contains(&q.to_lowercase()),
        });
        let tag_pattern = query
            .tag
            .as_deref()
            .map(|t| like_contains(&format!("\"{}\"", t.trim())));
        let filter = "c.tenant_id = $1 AND c.merged_into IS NULL
            AND ($2 IS NULL OR c.search_name LIKE $2 ESCAPE '\\'
                 OR EXISTS (SELECT 1 FROM customer_identifiers i WHERE i.customer_id = c.id AND i.value LIKE $3 ESCAPE '\\'))
            AND ($4 IS NULL OR c.vip = $4)
            AND ($5 IS NULL OR c.tags LIKE $5 ESCAPE '\\')";
        let count_sql = format!("SELECT COUNT(*) FROM customers c WHERE {filter}");
        let page_sql = format!("SELECT {COLUMNS} FROM customers c WHERE {filter} ORDER BY c.search_name, c.id LIMIT $6 OFFSET $7");
        let (total,): (i64,) = on_pool!(self, p => sqlx::query_as(&count_sql)
            .bind(tenant_id).bind(&name_pattern).bind(&ident_pattern).bind(query.vip).bind(&tag_pattern)
            .fetch_one(p).await)?;
        let rows: Vec<CustomerRow> = on_pool!(self, p => sqlx::query_as(&page_sql)
            .bind(tenant_id).bind(&name_pattern).bind(&ident_pattern).bind(query.vip).bind(&tag_pattern)
            .bind(query.limit).bind(query.offset)
            .fetch_all(p).await)?;
        Ok(Page {
            items: self.hydrate(rows).await?,
            total,
            limit: query.limit,
            offset: query.offset,
        })
    }

    /// Merges `absorb` into `keep`: identifiers and interactions move to `keep`, tags are joined,
    /// `keep`'s fields win over `absorb`'s, notes are appended, VIP if either was.
    pub async fn merge_customers(
        &self,
        tenant_id: i64,
        keep: i64,
        absorb: i64,
    ) -> Result<Customer> {
        if keep == absorb {
            return Err(
                InvalidInput::new("absorb_id", "a customer cannot be merged into itself").into(),
            );
        }
        let k = self.get_customer(tenant_id, keep).await?;
        let a = self.get_customer(tenant_id, absorb).await?;
        if k.merged_into.is_some() || a.merged_into.is_some() {
            return Err(StoreError::conflict(
                "customer_merged",
                "one of the customers was already merged",
            ));
        }
        let mut tags = k.tags.clone();
        tags.extend(a.tags.iter().filter(|t| !k.tags.contains(t)).cloned());
        tags.truncate(MAX_TAGS);
        let mut fields = a.custom_fields.clone();
        fields.extend(k.custom_fields.clone());
        while fields.len() > MAX_FIELDS {
            fields.pop_last();
        }
        let notes = match (k.notes.is_empty(), a.notes.is_empty()) {
            (_, true) => k.notes.clone(),
            (true, false) => a.notes.clone(),
            (false, false) => format!("{}\n\n{}", k.notes, a.notes),
        };
        let now = now_ms();
        on_writer!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query("UPDATE customer_identifiers SET customer_id = $3 WHERE tenant_id = $1 AND customer_id = $2")
                .bind(tenant_id).bind(absorb).bind(keep).execute(&mut *tx).await?;
            sqlx::query("UPDATE interactions SET customer_id = $3 WHERE tenant_id = $1 AND customer_id = $2")
                .bind(tenant_id).bind(absorb).bind(keep).execute(&mut *tx).await?;
            sqlx::query("UPDATE customers SET merged_into = $3, updated_at = $4 WHERE tenant_id = $1 AND (id = $2 OR merged_into = $2)")
                .bind(tenant_id).bind(absorb).bind(keep).bind(now).execute(&mut *tx).await?;
            sqlx::query("UPDATE customers SET tags = $3, custom_fields = $4, notes = $5, vip = $6, updated_at = $7
                         WHERE tenant_id = $1 AND id = $2")
                .bind(tenant_id).bind(keep)
                .bind(serde_json::to_string(&tags).unwrap_or_else(|_| "[]".into()))
                .bind(serde_json::to_string(&fields).unwrap_or_else(|_| "{}".into()))
                .bind(&notes).bind(k.vip || a.vip).bind(now)
                .execute(&mut *tx).await?;
            tx.commit().await
        })?;
        self.get_customer(tenant_id, keep).await
    }
}
