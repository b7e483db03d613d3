//! The behaviour every storage backend must show. Each function gets a fresh, migrated store.

use hotline_model::{Channel, Direction, IdentifierKind, InteractionState, Role, Skill, Tenant};
use hotline_store::*;
use serde_json::json;
use std::collections::BTreeMap;
use time::Duration;

async fn tenant(s: &Store, slug: &str) -> Tenant {
    s.create_tenant(&NewTenant {
        name: format!("Tenant {slug}"),
        slug: slug.into(),
        default_region: "RU".into(),
        timezone: "Europe/Moscow".into(),
    })
    .await
    .expect("create tenant")
}

fn code(e: StoreError) -> String {
    match e {
        StoreError::Conflict { code, .. } => code.to_string(),
        StoreError::NotFound => "not_found".into(),
        StoreError::Invalid(i) => format!("invalid:{}", i.field),
        other => format!("other:{other}"),
    }
}

fn voice(customer: Option<i64>, queue: Option<i64>) -> NewInteraction {
    NewInteraction {
        channel: Channel::Voice,
        direction: Direction::Inbound,
        state: InteractionState::New,
        customer_id: customer,
        queue_id: queue,
        agent_id: None,
        subject: None,
        notes: String::new(),
        created_at: None,
    }
}

fn voice_queue(name: &str) -> NewQueue {
    NewQueue {
        name: name.into(),
        channels: vec![Channel::Voice],
        service_level_seconds: 20,
        service_level_target: 80,
        priority: 0,
        wrap_up_seconds: 0,
        disposition_required: false,
    }
}

fn customer(name: &str, phones: &[&str], emails: &[&str]) -> NewCustomer {
    NewCustomer {
        name: name.into(),
        phones: phones.iter().map(|s| s.to_string()).collect(),
        emails: emails.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

pub async fn migrations_are_idempotent(s: &Store) {
    assert_eq!(s.migrate().await.unwrap(), Vec::<i64>::new());
    assert_eq!(s.schema_version().await.unwrap(), migrate::latest_version());
    s.ping().await.unwrap();
}

pub async fn tenants(s: &Store) {
    let t = tenant(s, "acme").await;
    assert_eq!(s.get_tenant_by_slug("acme").await.unwrap(), t);
    let dup = s
        .create_tenant(&NewTenant {
            name: "x".into(),
            slug: "acme".into(),
            default_region: "RU".into(),
            timezone: "UTC".into(),
        })
        .await;
    assert_eq!(code(dup.unwrap_err()), "slug_taken");
    let bad = s
        .create_tenant(&NewTenant {
            name: "x".into(),
            slug: "other".into(),
            default_region: "ZZ".into(),
            timezone: "UTC".into(),
        })
        .await;
    assert_eq!(code(bad.unwrap_err()), "invalid:default_region");
    let t2 = s
        .update_tenant(
            t.id,
            &TenantPatch {
                default_region: Some("gb".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(t2.default_region, "GB");
    assert_eq!(s.list_tenants().await.unwrap().len(), 1);
    // The first tenant runs the installation; the ones after it are its client companies.
    assert!(t.operator);
    let client = |slug: &str| NewTenant {
        name: format!("Заказчик {slug}"),
        slug: slug.into(),
        default_region: "RU".into(),
        timezone: "Europe/Moscow".into(),
    };
    let admin = |username: &str| NewUser {
        username: username.into(),
        display_name: "Администратор заказчика".into(),
        role: Role::Agent, // the first user of a tenant is its administrator whatever is asked
        password: "password1".into(),
    };
    let (shop, shop_admin) = s
        .create_tenant_with_admin(&client("shop"), &admin("shop-admin"))
        .await
        .unwrap();
    assert!(!shop.operator);
    assert_eq!(
        (shop_admin.tenant_id, shop_admin.role),
        (shop.id, Role::Admin)
    );
    // A taken user name refuses the tenant too; a taken slug refuses the user too.
    let taken = s
        .create_tenant_with_admin(&client("bakery"), &admin("shop-admin"))
        .await;
    assert_eq!(code(taken.unwrap_err()), "username_taken");
    assert_eq!(
        code(s.get_tenant_by_slug("bakery").await.unwrap_err()),
        "not_found"
    );
    let taken = s
        .create_tenant_with_admin(&client("shop"), &admin("bakery-admin"))
        .await;
    assert_eq!(code(taken.unwrap_err()), "slug_taken");
    assert_eq!(
        code(s.get_user_by_username("bakery-admin").await.unwrap_err()),
        "not_found"
    );
    let weak = s
        .create_tenant_with_admin(
            &client("bakery"),
            &NewUser {
                password: "short".into(),
                ..admin("bakery-admin")
            },
        )
        .await;
    assert_eq!(code(weak.unwrap_err()), "invalid:password");
    let (bakery, _) = s
        .create_tenant_with_admin(&client("bakery"), &admin("bakery-admin"))
        .await
        .unwrap();
    let all = s.list_tenants().await.unwrap();
    assert_eq!(
        all.iter().map(|t| (t.id, t.operator)).collect::<Vec<_>>(),
        vec![(t.id, true), (shop.id, false), (bakery.id, false)]
    );
}

pub async fn users_sessions_and_tokens(s: &Store) {
    let t = tenant(s, "acme").await;
    let u = s
        .create_user(
            t.id,
            &NewUser {
                username: "Olga".into(),
                display_name: "Ольга".into(),
                role: Role::Supervisor,
                password: "correct horse".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(u.username, "olga");
    let dup = s
        .create_user(
            t.id,
            &NewUser {
                username: "olga".into(),
                display_name: "x".into(),
                role: Role::Agent,
                password: "whatever123".into(),
            },
        )
        .await;
    assert_eq!(code(dup.unwrap_err()), "username_taken");
    let short = s
        .create_user(
            t.id,
            &NewUser {
                username: "bob".into(),
                display_name: "x".into(),
                role: Role::Agent,
                password: "short".into(),
            },
        )
        .await;
    assert_eq!(code(short.unwrap_err()), "invalid:password");

    assert_eq!(
        s.check_password("OLGA", "correct horse")
            .await
            .unwrap()
            .unwrap()
            .id,
        u.id
    );
    assert!(s
        .check_password("olga", "wrong horse")
        .await
        .unwrap()
        .is_none());
    assert!(s
        .check_password("nobody", "correct horse")
        .await
        .unwrap()
        .is_none());

    let token = s.create_session(u.id, Duration::hours(1)).await.unwrap();
    let auth = s.authenticate(&token).await.unwrap().unwrap();
    assert_eq!((auth.user.id, auth.api_token_id), (u.id, None));
    s.end_session(&token).await.unwrap();
    assert!(s.authenticate(&token).await.unwrap().is_none());
    let expired = s.create_session(u.id, Duration::seconds(-1)).await.unwrap();
    assert!(s.authenticate(&expired).await.unwrap().is_none());

    let (record, secret) = s.create_api_token(t.id, u.id, "CRM sync").await.unwrap();
    assert!(secret.starts_with("hlt_"));
    assert_eq!(
        s.authenticate(&secret).await.unwrap().unwrap().api_token_id,
        Some(record.id)
    );
    assert_eq!(s.list_api_tokens(t.id).await.unwrap().len(), 1);
    s.revoke_api_token(t.id, record.id).await.unwrap();
    assert!(s.authenticate(&secret).await.unwrap().is_none());
    assert!(s.authenticate("hlt_not-a-token").await.unwrap().is_none());
    assert!(s.authenticate("garbage").await.unwrap().is_none());

    // Deactivating ends sessions and refuses log-in.
    let t2 = s.create_session(u.id, Duration::hours(1)).await.unwrap();
    s.update_user(
        t.id,
        u.id,
        &UserPatch {
            active: Some(false),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(s.authenticate(&t2).await.unwrap().is_none());
    assert!(s
        .check_password("olga", "correct horse")
        .await
        .unwrap()
        .is_none());
}

pub async fn agents_and_sip_credentials(s: &Store) {
    let t = tenant(s, "acme").await;
    let u = s
        .create_user(
            t.id,
            &NewUser {
                username: "anna".into(),
                display_name: "Анна".into(),
                role: Role::Agent,
                password: "password1".into(),
            },
        )
        .await
        .unwrap();
    let u2 = s
        .create_user(
            t.id,
            &NewUser {
                username: "boris".into(),
                display_name: "Борис".into(),
                role: Role::Agent,
                password: "password1".into(),
            },
        )
        .await
        .unwrap();
    let skills = vec![
        Skill {
            name: "language.ru".into(),
            proficiency: 5,
        },
        Skill {
            name: "cards".into(),
            proficiency: 3,
        },
    ];
    let a = s
        .create_agent(
            t.id,
            &NewAgent {
                user_id: u.id,
                extension: "1001".into(),
                skills,
                sip_password: Some("sip-secret-1".into()),
            },
        )
        .await
        .unwrap();
    assert!(a.sip_password_set);
    assert_eq!(
        a.skills.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["cards", "language.ru"]
    );
    let dup = s
        .create_agent(
            t.id,
            &NewAgent {
                user_id: u2.id,
                extension: "1001".into(),
                skills: vec![],
                sip_password: None,
            },
        )
        .await;
    assert_eq!(code(dup.unwrap_err()), "extension_taken");
    let bad = s
        .create_agent(
            t.id,
            &NewAgent {
                user_id: u2.id,
                extension: "1002".into(),
                skills: vec![Skill {
                    name: "x".into(),
                    proficiency: 6,
                }],
                sip_password: None,
            },
        )
        .await;
    assert_eq!(code(bad.unwrap_err()), "invalid:proficiency");

    let creds = s.sip_credentials("acme", "1001").await.unwrap();
    let (md5, sha) = agents::sip_ha1("1001", "acme", "sip-secret-1");
    assert_eq!(
        (creds.ha1_md5.as_str(), creds.ha1_sha256.as_str()),
        (md5.as_str(), sha.as_str())
    );
    assert!(
        !format!("{creds:?}").contains(&md5),
        "Debug must not print digests"
    );

    let a2 = s
        .update_agent(
            t.id,
            a.id,
            &AgentPatch {
                skills: Some(vec![Skill {
                    name: "vip".into(),
                    proficiency: 4,
                }]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        a2.skills,
        vec![Skill {
            name: "vip".into(),
            proficiency: 4
        }]
    );
    assert_eq!(
        code(
            s.update_agent(
                t.id,
                a.id,
                &AgentPatch {
                    extension: Some("1005".into()),
                    ..Default::default()
                }
            )
            .await
            .unwrap_err()
        ),
        "invalid:sip_password"
    );
    let a3 = s
        .update_agent(
            t.id,
            a.id,
            &AgentPatch {
                extension: Some("1005".into()),
                sip_password: Some("new-secret-2".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(a3.extension, "1005");
    assert!(s.sip_credentials("acme", "1001").await.is_err());
    assert_eq!(s.get_agent_by_user(t.id, u.id).await.unwrap().id, a.id);
    assert_eq!(s.list_agents(t.id).await.unwrap().len(), 1);
    s.delete_agent(t.id, a.id).await.unwrap();
    assert_eq!(
        code(s.get_agent(t.id, a.id).await.unwrap_err()),
        "not_found"
    );
}

pub async fn catalog(s: &Store) {
    let t = tenant(s, "acme").await;
    let q = s
        .create_queue(
            t.id,
            &NewQueue {
                name: "Cards".into(),
                channels: vec![Channel::Chat, Channel::Voice, Channel::Voice],
                service_level_seconds: 20,
                service_level_target: 80,
                priority: 1,
                wrap_up_seconds: 30,
                disposition_required: true,
            },
        )
        .await
        .unwrap();
    assert_eq!(q.channels, vec![Channel::Voice, Channel::Chat]);
    let dup = s
        .create_queue(
            t.id,
            &NewQueue {
                name: "Cards".into(),
                channels: vec![Channel::Voice],
                service_level_seconds: 20,
                service_level_target: 80,
                priority: 1,
                wrap_up_seconds: 0,
                disposition_required: false,
            },
        )
        .await;
    assert_eq!(code(dup.unwrap_err()), "name_taken");
    let q2 = s
        .update_queue(
            t.id,
            q.id,
            &QueuePatch {
                priority: Some(7),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!((q2.priority, q2.name.as_str()), (7, "Cards"));
    assert_eq!(
        code(
            s.update_queue(
                t.id,
                q.id,
                &QueuePatch {
                    channels: Some(vec![]),
                    ..Default::default()
                }
            )
            .await
            .unwrap_err()
        ),
        "invalid:channels"
    );

    let d = s
        .create_disposition(
            t.id,
            &NewDisposition {
                code: "sale".into(),
                name: "Продажа".into(),
                active: true,
            },
        )
        .await
        .unwrap();
    let d2 = s
        .update_disposition(
            t.id,
            d.id,
            &DispositionPatch {
                active: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(!d2.active);

    let sc = s
        .create_script(
            t.id,
            &NewScript {
                queue_id: Some(q.id),
                title: "Приветствие".into(),
                body_markdown: "# Привет\n".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        s.list_scripts(t.id, Some(q.id)).await.unwrap(),
        vec![sc.clone()]
    );
    let sc2 = s
        .update_script(
            t.id,
            sc.id,
            &ScriptPatch {
                queue_id: Some(None),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(sc2.queue_id, None);
    assert!(s.list_scripts(t.id, Some(q.id)).await.unwrap().is_empty());

    // A queue with history cannot be deleted; one without can.
    let (i, _) = s
        .create_interaction(t.id, &voice(None, Some(q.id)), "system")
        .await
        .unwrap();
    assert_eq!(
        code(s.delete_queue(t.id, q.id).await.unwrap_err()),
        "in_use"
    );
    s.update_interaction(
        t.id,
        i.id,
        &InteractionPatch {
            disposition_id: Some(Some(d.id)),
            ..Default::default()
        },
        "a",
    )
    .await
    .unwrap();
    assert_eq!(
        code(s.delete_disposition(t.id, d.id).await.unwrap_err()),
        "in_use"
    );
    s.delete_script(t.id, sc.id).await.unwrap();
    assert_eq!(
        code(s.delete_script(t.id, sc.id).await.unwrap_err()),
        "not_found"
    );
}

pub async fn customers_and_identifiers(s: &Store) {
    let t = tenant(s, "acme").await;
    let mut fields = BTreeMap::new();
    fields.insert("contract".to_string(), json!("ДК-1"));
    let c = s
        .create_customer(
            t.id,
            &NewCustomer {
                vip: true,
                tags: vec!["ипотека".into(), "ипотека".into()],
                custom_fields: fields,
                ..customer(
                    "Иванов Иван",
                    &["8 (916) 555-01-02"],
                    &[" Ivan@Example.RU "],
                )
            },
        )
        .await
        .unwrap();
    assert_eq!(c.tags, vec!["ипотека"]);
    assert_eq!(c.identifiers.len(), 2);
    assert!(c
        .identifiers
        .iter()
        .any(|i| i.kind == IdentifierKind::Phone && i.value == "+79165550102"));
    assert!(c
        .identifiers
        .iter()
        .any(|i| i.kind == IdentifierKind::Email && i.value == "ivan@example.ru"));
    for typed in ["8 (916) 555-01-02", "+7 916 5550102", "9165550102"] {
        let found = s
            .lookup_customer(t.id, "RU", Some(typed), None)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.id, c.id, "{typed}");
    }
    assert_eq!(
        s.lookup_customer(t.id, "RU", None, Some("IVAN@example.ru"))
            .await
            .unwrap()
            .unwrap()
            .id,
        c.id
    );
    assert!(s
        .lookup_customer(t.id, "RU", Some("+7 916 000-00-00"), None)
        .await
        .unwrap()
        .is_none());
    assert!(s
        .lookup_customer(t.id, "RU", Some("not a number"), None)
        .await
        .is_err());

    let other = s
        .create_customer(t.id, &customer("Петров", &["+79165550102"], &[]))
        .await;
    assert_eq!(code(other.unwrap_err()), "identifier_taken");
    let bad = s.create_customer(t.id, &customer("X", &["12"], &[])).await;
    assert_eq!(code(bad.unwrap_err()), "invalid:phones");

    let p = s
        .create_customer(t.id, &customer("Петров Пётр", &[], &[]))
        .await
        .unwrap();
    let p = s
        .add_identifier(t.id, p.id, IdentifierKind::Phone, "+7 495 123-45-67")
        .await
        .unwrap();
    assert_eq!(p.identifiers[0].value, "+74951234567");
    let p = s
        .update_customer(
            t.id,
            p.id,
            &CustomerPatch {
                company: Some(Some("ООО «Ромашка»".into())),
                emails: Some(vec!["p@x.ru".into()]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(p.company.as_deref(), Some("ООО «Ромашка»"));
    assert_eq!(
        p.identifiers.len(),
        2,
        "phones kept when only e-mails are replaced"
    );
    assert_eq!(
        code(
            s.update_customer(
                t.id,
                p.id,
                &CustomerPatch {
                    custom_fields: Some(BTreeMap::from([("a".to_string(), json!({"nested": 1}))])),
                    ..Default::default()
                }
            )
            .await
            .unwrap_err()
        ),
        "invalid:custom_fields"
    );

    s.delete_customer(t.id, p.id).await.unwrap();
    assert!(
        s.lookup_customer(t.id, "RU", Some("+74951234567"), None)
            .await
            .unwrap()
            .is_none(),
        "identifiers go with the customer"
    );
    s.create_interaction(t.id, &voice(Some(c.id), None), "system")
        .await
        .unwrap();
    assert_eq!(
        code(s.delete_customer(t.id, c.id).await.unwrap_err()),
        "customer_has_history"
    );
}

pub async fn customer_search(s: &Store) {
    let t = tenant(s, "acme").await;
    for i in 0..25 {
        let name = if i % 2 == 0 {
            format!("Смирнова Ольга {i:02}")
        } else {
            format!("Smith John {i:02}")
        };
        s.create_customer(
            t.id,
            &NewCustomer {
                vip: i % 5 == 0,
                tags: if i % 3 == 0 {
                    vec!["premium".into()]
                } else {
                    vec![]
                },
                ..customer(
                    &name,
                    &[&format!("+7916555{:04}", 1000 + i)],
                    &[&format!("c{i}@mail.example")],
                )
            },
        )
        .await
        .unwrap();
    }
    let q = |q: &str, limit, offset| CustomerQuery {
        q: Some(q.into()),
        limit,
        offset,
        ..Default::default()
    };
    let page = s
        .search_customers(t.id, &q("СМИРНОВА", 5, 0))
        .await
        .unwrap();
    assert_eq!(
        (page.total, page.items.len()),
        (13, 5),
        "Cyrillic matches without regard to case"
    );
    let page2 = s
        .search_customers(t.id, &q("смирнова", 5, 10))
        .await
        .unwrap();
    assert_eq!(page2.items.len(), 3);
    assert!(page.items[0].name < page2.items[0].name, "ordered by name");
    assert_eq!(
        s.search_customers(t.id, &q("8 (916) 555-10-03", 10, 0))
            .await
            .unwrap()
            .total,
        1
    );
    assert_eq!(
        s.search_customers(t.id, &q("1003", 10, 0))
            .await
            .unwrap()
            .total,
        1
    );
    assert_eq!(
        s.search_customers(t.id, &q("c7@MAIL", 10, 0))
            .await
            .unwrap()
            .items[0]
            .name,
        "Smith John 07"
    );
    assert_eq!(
        s.search_customers(t.id, &q("100%_", 10, 0))
            .await
            .unwrap()
            .total,
        0,
        "LIKE wildcards are literal"
    );
    let vip = s
        .search_customers(
            t.id,
            &CustomerQuery {
                vip: Some(true),
                limit: 50,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(vip.total, 5);
    let tagged = s
        .search_customers(
            t.id,
            &CustomerQuery {
                tag: Some("premium".into()),
                limit: 50,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(tagged.total, 9);
    let all = s
        .search_customers(
            t.id,
            &CustomerQuery {
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(all.total, 25);
}

pub async fn merge_keeps_both_histories(s: &Store) {
    let t = tenant(s, "acme").await;
    let a = s
        .create_customer(
            t.id,
            &NewCustomer {
                tags: vec!["a".into()],
                notes: "note A".into(),
                ..customer("Иванов И.", &["+79165550102"], &[])
            },
        )
        .await
        .unwrap();
    let b = s
        .create_customer(
            t.id,
            &NewCustomer {
                vip: true,
                tags: vec!["b".into()],
                notes: "note B".into(),
                ..customer("Иван Иванов", &[], &["ivan@example.ru"])
            },
        )
        .await
        .unwrap();
    s.create_interaction(t.id, &voice(Some(a.id), None), "system")
        .await
        .unwrap();
    s.create_interaction(
        t.id,
        &NewInteraction {
            channel: Channel::Email,
            ..voice(Some(b.id), None)
        },
        "system",
    )
    .await
    .unwrap();
    let merged = s.merge_customers(t.id, a.id, b.id).await.unwrap();
    assert!(merged.vip);
    assert_eq!(merged.tags, vec!["a", "b"]);
    assert_eq!(merged.notes, "note A\n\nnote B");
    assert_eq!(merged.identifiers.len(), 2);
    let card = s.customer_card(t.id, b.id, 20).await.unwrap();
    assert_eq!(
        card.customer.id, a.id,
        "the absorbed id resolves to the survivor"
    );
    let channels: Vec<Channel> = card
        .timeline
        .iter()
        .map(|e| e.interaction.channel)
        .collect();
    assert!(channels.contains(&Channel::Voice) && channels.contains(&Channel::Email));
    assert_eq!(
        s.get_customer(t.id, b.id).await.unwrap().merged_into,
        Some(a.id)
    );
    assert_eq!(
        s.lookup_customer(t.id, "RU", None, Some("ivan@example.ru"))
            .await
            .unwrap()
            .unwrap()
            .id,
        a.id
    );
    assert_eq!(
        code(s.merge_customers(t.id, a.id, b.id).await.unwrap_err()),
        "customer_merged"
    );
    assert_eq!(
        code(s.merge_customers(t.id, a.id, a.id).await.unwrap_err()),
        "invalid:absorb_id"
    );
    let search = s
        .search_customers(
            t.id,
            &CustomerQuery {
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(search.total, 1, "merged customers leave search");
}

pub async fn interactions_and_timeline(s: &Store) {
    let t = tenant(s, "acme").await;
    let c = s
        .create_customer(t.id, &customer("Клиент", &["+79165550102"], &[]))
        .await
        .unwrap();
    let q = s.create_queue(t.id, &voice_queue("Q")).await.unwrap();
    let d = s
        .create_disposition(
            t.id,
            &NewDisposition {
                code: "info_given".into(),
                name: "Info".into(),
                active: true,
            },
        )
        .await
        .unwrap();
    let (i, created) = s
        .create_interaction(t.id, &voice(Some(c.id), Some(q.id)), "trunk")
        .await
        .unwrap();
    assert_eq!(
        (created.kind.as_str(), created.actor.as_str()),
        ("created", "trunk")
    );
    let ivr = s
        .append_event(
            t.id,
            i.id,
            &NewEvent {
                kind: "ivr_step".into(),
                actor: "flow".into(),
                data: json!({"node": "menu", "digits": "1"}),
                at: None,
            },
        )
        .await
        .unwrap();
    assert!(ivr.id > created.id);
    let (i2, ev) = s
        .update_interaction(
            t.id,
            i.id,
            &InteractionPatch {
                state: Some(InteractionState::Active),
                ..Default::default()
            },
            "agent1",
        )
        .await
        .unwrap();
    assert!(i2.answered_at.is_some());
    assert_eq!(ev[0].data, json!({"from": "new", "to": "active"}));
    let (i3, ev) = s
        .update_interaction(
            t.id,
            i.id,
            &InteractionPatch {
                state: Some(InteractionState::Closed),
                disposition_id: Some(Some(d.id)),
                notes: Some("Помогли".into()),
                recording_ref: Some("rec/1.wav".into()),
                ..Default::default()
            },
            "agent1",
        )
        .await
        .unwrap();
    assert!(i3.ended_at.is_some());
    let kinds: Vec<&str> = ev.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "state_changed",
            "disposition_set",
            "notes_updated",
            "recording_attached"
        ]
    );
    assert_eq!(ev[1].data["code"], "info_given");
    let again = s
        .update_interaction(
            t.id,
            i.id,
            &InteractionPatch {
                state: Some(InteractionState::Active),
                ..Default::default()
            },
            "agent1",
        )
        .await;
    assert_eq!(code(again.unwrap_err()), "interaction_closed");
    let (_, none) = s
        .update_interaction(
            t.id,
            i.id,
            &InteractionPatch {
                notes: Some("Помогли".into()),
                ..Default::default()
            },
            "agent1",
        )
        .await
        .unwrap();
    assert!(none.is_empty(), "no change, no event");

    let events = s.list_events(t.id, i.id).await.unwrap();
    assert_eq!(events.len(), 7);
    assert!(events.windows(2).all(|w| w[0].id < w[1].id));
    assert_eq!(s.get_interaction(t.id, i.id).await.unwrap(), i3);

    let batch: Vec<(i64, NewEvent)> = (0..50)
        .map(|n| {
            (
                i.id,
                NewEvent {
                    kind: "media_stats".into(),
                    actor: "media".into(),
                    data: json!({"n": n}),
                    at: None,
                },
            )
        })
        .collect();
    assert_eq!(s.append_events(t.id, &batch).await.unwrap().len(), 50);
    let bad_batch = vec![
        (i.id, batch[0].1.clone()),
        (i.id + 1000, batch[0].1.clone()),
    ];
    assert_eq!(
        code(s.append_events(t.id, &bad_batch).await.unwrap_err()),
        "not_found"
    );
    assert_eq!(
        s.list_events(t.id, i.id).await.unwrap().len(),
        57,
        "a failed batch writes nothing"
    );
    assert_eq!(
        code(
            s.append_event(
                t.id,
                i.id,
                &NewEvent {
                    kind: "Bad Kind".into(),
                    actor: "x".into(),
                    data: json!({}),
                    at: None
                }
            )
            .await
            .unwrap_err()
        ),
        "invalid:kind"
    );

    for _ in 0..3 {
        s.create_interaction(
            t.id,
            &NewInteraction {
                channel: Channel::Chat,
                ..voice(Some(c.id), None)
            },
            "widget",
        )
        .await
        .unwrap();
    }
    let f = |f: InteractionFilter| InteractionFilter { limit: 50, ..f };
    assert_eq!(
        s.list_interactions(
            t.id,
            &f(InteractionFilter {
                channel: Some(Channel::Chat),
                ..Default::default()
            })
        )
        .await
        .unwrap()
        .total,
        3
    );
    assert_eq!(
        s.list_interactions(
            t.id,
            &f(InteractionFilter {
                disposition_id: Some(d.id),
                ..Default::default()
            })
        )
        .await
        .unwrap()
        .total,
        1
    );
    assert_eq!(
        s.list_interactions(
            t.id,
            &f(InteractionFilter {
                state: Some(InteractionState::Closed),
                ..Default::default()
            })
        )
        .await
        .unwrap()
        .total,
        1
    );
    let future = time::OffsetDateTime::now_utc() + Duration::hours(1);
    assert_eq!(
        s.list_interactions(
            t.id,
            &f(InteractionFilter {
                from: Some(future),
                ..Default::default()
            })
        )
        .await
        .unwrap()
        .total,
        0
    );
    let card = s.customer_card(t.id, c.id, 2).await.unwrap();
    assert_eq!(card.timeline.len(), 2);
    assert!(
        card.timeline[0].interaction.id > card.timeline[1].interaction.id,
        "newest first"
    );
    assert_eq!(card.timeline[0].events[0].kind, "created");
}

pub async fn timeline_is_append_only(s: &Store) {
    let t = tenant(s, "acme").await;
    let (i, _) = s
        .create_interaction(t.id, &voice(None, None), "system")
        .await
        .unwrap();
    assert!(s
        .execute_unchecked("UPDATE interaction_events SET kind = 'forged'")
        .await
        .is_err());
    assert!(s
        .execute_unchecked("DELETE FROM interaction_events")
        .await
        .is_err());
    assert_eq!(s.list_events(t.id, i.id).await.unwrap()[0].kind, "created");
}

pub async fn tenant_isolation(s: &Store) {
    let a = tenant(s, "alpha").await;
    let b = tenant(s, "beta").await;
    let ca = s
        .create_customer(a.id, &customer("A", &["+79165550102"], &[]))
        .await
        .unwrap();
    // The same number may belong to a customer of another tenant.
    let cb = s
        .create_customer(b.id, &customer("B", &["+79165550102"], &[]))
        .await
        .unwrap();
    assert_eq!(
        s.lookup_customer(a.id, "RU", Some("+79165550102"), None)
            .await
            .unwrap()
            .unwrap()
            .id,
        ca.id
    );
    assert_eq!(
        s.lookup_customer(b.id, "RU", Some("+79165550102"), None)
            .await
            .unwrap()
            .unwrap()
            .id,
        cb.id
    );
    assert_eq!(
        code(s.get_customer(b.id, ca.id).await.unwrap_err()),
        "not_found"
    );
    assert_eq!(
        code(
            s.update_customer(b.id, ca.id, &CustomerPatch::default())
                .await
                .unwrap_err()
        ),
        "not_found"
    );
    assert_eq!(
        code(s.merge_customers(b.id, cb.id, ca.id).await.unwrap_err()),
        "not_found"
    );
    let (ia, _) = s
        .create_interaction(a.id, &voice(Some(ca.id), None), "system")
        .await
        .unwrap();
    assert_eq!(
        code(s.get_interaction(b.id, ia.id).await.unwrap_err()),
        "not_found"
    );
    assert_eq!(
        code(
            s.append_event(
                b.id,
                ia.id,
                &NewEvent {
                    kind: "x".into(),
                    actor: "y".into(),
                    data: json!({}),
                    at: None
                }
            )
            .await
            .unwrap_err()
        ),
        "not_found"
    );
    assert_eq!(
        code(
            s.create_interaction(b.id, &voice(Some(ca.id), None), "system")
                .await
                .unwrap_err()
        ),
        "invalid:customer_id"
    );
    let (ib, _) = s
        .create_interaction(b.id, &voice(Some(cb.id), None), "system")
        .await
        .unwrap();
    assert_eq!(
        code(
            s.update_interaction(
                b.id,
                ib.id,
                &InteractionPatch {
                    customer_id: Some(Some(ca.id)),
                    ..Default::default()
                },
                "x"
            )
            .await
            .unwrap_err()
        ),
        "invalid:customer_id"
    );
    assert_eq!(
        s.list_interactions(
            b.id,
            &InteractionFilter {
                limit: 10,
                ..Default::default()
            }
        )
        .await
        .unwrap()
        .total,
        1
    );
    assert_eq!(
        s.search_customers(
            b.id,
            &CustomerQuery {
                limit: 10,
                ..Default::default()
            }
        )
        .await
        .unwrap()
        .total,
        1
    );
    let q = s.create_queue(a.id, &voice_queue("Q")).await.unwrap();
    assert_eq!(
        code(s.get_queue(b.id, q.id).await.unwrap_err()),
        "not_found"
    );
    assert_eq!(
        code(s.delete_queue(b.id, q.id).await.unwrap_err()),
        "not_found"
    );
    assert_eq!(
        code(
            s.create_script(
                b.id,
                &NewScript {
                    queue_id: Some(q.id),
                    title: "x".into(),
                    body_markdown: String::new()
                }
            )
            .await
            .unwrap_err()
        ),
        "invalid:queue_id"
    );
    let u = s
        .create_user(
            a.id,
            &NewUser {
                username: "ua".into(),
                display_name: "UA".into(),
                role: Role::Agent,
                password: "password1".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(code(s.get_user(b.id, u.id).await.unwrap_err()), "not_found");
    assert_eq!(
        code(
            s.create_agent(
                b.id,
                &NewAgent {
                    user_id: u.id,
                    extension: "1001".into(),
                    skills: vec![],
                    sip_password: None
                }
            )
            .await
            .unwrap_err()
        ),
        "not_found"
    );
    assert_eq!(
        code(s.create_api_token(b.id, u.id, "x").await.unwrap_err()),
        "not_found"
    );
}

pub async fn demo_seed(s: &Store) {
    let r = s.seed_demo("demo-password-1").await.unwrap();
    assert!(r.created);
    let t = r.tenant_id;
    assert_eq!(
        s.list_agents(t)
            .await
            .unwrap()
            .iter()
            .map(|a| a.extension.as_str())
            .collect::<Vec<_>>(),
        ["1001", "1002", "1003"]
    );
    assert_eq!(s.list_queues(t).await.unwrap().len(), 2);
    assert_eq!(s.list_scripts(t, None).await.unwrap().len(), 2);
    assert_eq!(s.flow(t, "demo", None).await.unwrap().version, 1);
    assert!(s.calendars(t).await.unwrap().is_some());
    assert!(s.lookup_row(t, "orders", "123456").await.unwrap().is_some());
    assert!(s
        .list_numbers(t)
        .await
        .unwrap()
        .iter()
        .any(|n| n.number == demo::DEMO_FLOW_NUMBER && n.kind == "flow"));
    assert!(s.list_dispositions(t).await.unwrap().len() >= 4);
    let customers = s
        .search_customers(
            t,
            &CustomerQuery {
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(customers.total, 50);
    assert!(customers
        .items
        .iter()
        .any(|c| c.name.chars().any(|ch| ('А'..='я').contains(&ch))));
    assert!(customers.items.iter().any(|c| c.name.is_ascii()));
    let history = s
        .list_interactions(
            t,
            &InteractionFilter {
                limit: 1,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(history.total > 40, "weeks of history: {}", history.total);
    let card = s
        .lookup_customer(t, "RU", Some("8 916 555-01-00"), None)
        .await
        .unwrap()
        .expect("first demo customer by phone");
    assert!(
        !s.customer_card(t, card.id, 20)
            .await
            .unwrap()
            .timeline
            .is_empty()
            || history.total > 0
    );
    assert!(s
        .check_password("admin", "demo-password-1")
        .await
        .unwrap()
        .is_some());
    let again = s.seed_demo("other-password-2").await.unwrap();
    assert!(!again.created);
    assert_eq!(
        s.search_customers(
            t,
            &CustomerQuery {
                limit: 1,
                ..Default::default()
            }
        )
        .await
        .unwrap()
        .total,
        50
    );
    assert!(
        s.check_password("admin", "other-password-2")
            .await
            .unwrap()
            .is_some(),
        "a restart sets the given password"
    );
}

/// Compares what matters of two installations, for the copy test.
pub async fn same_contents(a: &Store, b: &Store) {
    let ta = a.list_tenants().await.unwrap();
    assert_eq!(ta, b.list_tenants().await.unwrap());
    assert_eq!(
        a.latest_flows(None).await.unwrap(),
        b.latest_flows(None).await.unwrap()
    );
    assert_eq!(
        a.all_calendars().await.unwrap(),
        b.all_calendars().await.unwrap()
    );
    for t in ta {
        assert_eq!(
            a.lookup_row(t.id, "orders", "123456").await.unwrap(),
            b.lookup_row(t.id, "orders", "123456").await.unwrap()
        );
        assert_eq!(
            a.list_users(t.id).await.unwrap(),
            b.list_users(t.id).await.unwrap()
        );
        assert_eq!(
            a.list_agents(t.id).await.unwrap(),
            b.list_agents(t.id).await.unwrap()
        );
        assert_eq!(
            a.list_queues(t.id).await.unwrap(),
            b.list_queues(t.id).await.unwrap()
        );
        assert_eq!(
            a.list_scripts(t.id, None).await.unwrap(),
            b.list_scripts(t.id, None).await.unwrap()
        );
        let q = CustomerQuery {
            limit: 1000,
            ..Default::default()
        };
        assert_eq!(
            a.search_customers(t.id, &q).await.unwrap(),
            b.search_customers(t.id, &q).await.unwrap()
        );
        let f = InteractionFilter {
            limit: 1000,
            ..Default::default()
        };
        let ia = a.list_interactions(t.id, &f).await.unwrap();
        assert_eq!(ia, b.list_interactions(t.id, &f).await.unwrap());
        for i in ia.items.iter().take(20) {
            assert_eq!(
                a.list_events(t.id, i.id).await.unwrap(),
                b.list_events(t.id, i.id).await.unwrap()
            );
        }
    }
}

pub async fn bulk_import(s: &Store) {
    let t = tenant(s, "acme").await;
    let batch: Vec<(NewCustomer, Vec<hotline_model::Identifier>)> = (0..450)
        .map(|i| {
            let ids = vec![
                hotline_model::Identifier {
                    kind: IdentifierKind::Phone,
                    value: format!("+7916{:07}", 1_000_000 + i),
                },
                hotline_model::Identifier {
                    kind: IdentifierKind::Email,
                    value: format!("c{i}@example.ru"),
                },
            ];
            (
                NewCustomer {
                    name: format!("Клиент {i:03}"),
                    ..Default::default()
                },
                ids,
            )
        })
        .collect();
    let ids = s.bulk_insert_customers(t.id, &batch).await.unwrap();
    assert_eq!(ids.len(), 450);
    for i in [0u64, 199, 200, 201, 449] {
        let c = s
            .lookup_customer(t.id, "RU", Some(&format!("8916{:07}", 1_000_000 + i)), None)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            c.name,
            format!("Клиент {i:03}"),
            "each identifier stays with its own customer"
        );
        assert_eq!(c.id, ids[i as usize]);
        assert_eq!(c.identifiers.len(), 2);
    }
    // All or nothing: a duplicate identifier anywhere refuses the whole batch.
    let dup = vec![
        (
            NewCustomer {
                name: "new".into(),
                ..Default::default()
            },
            vec![],
        ),
        (
            NewCustomer {
                name: "dup".into(),
                ..Default::default()
            },
            vec![hotline_model::Identifier {
                kind: IdentifierKind::Email,
                value: "c7@example.ru".into(),
            }],
        ),
    ];
    assert_eq!(
        code(s.bulk_insert_customers(t.id, &dup).await.unwrap_err()),
        "identifier_taken"
    );
    assert_eq!(
        s.search_customers(
            t.id,
            &CustomerQuery {
                limit: 1,
                ..Default::default()
            }
        )
        .await
        .unwrap()
        .total,
        450
    );
}

pub async fn concurrent_appends_commit_in_groups(s: &Store) {
    let t = tenant(s, "acme").await;
    let other = tenant(s, "other").await;
    let (mine, _) = s
        .create_interaction(t.id, &voice(None, None), "system")
        .await
        .unwrap();
    let (theirs, _) = s
        .create_interaction(other.id, &voice(None, None), "system")
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for w in 0..8i64 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for n in 0..50i64 {
                // Every tenth append of writer 3 targets another tenant's interaction.
                let target = if w == 3 && n % 10 == 0 {
                    theirs.id
                } else {
                    mine.id
                };
                let e = NewEvent {
                    kind: "media_stats".into(),
                    actor: format!("w{w}"),
                    data: json!({"w": w, "n": n}),
                    at: None,
                };
                out.push((w, n, target, s.append_event(t.id, target, &e).await));
            }
            out
        }));
    }
    let mut ok = 0;
    for task in tasks {
        for (w, n, target, result) in task.await.unwrap() {
            if target == theirs.id {
                assert_eq!(
                    code(result.unwrap_err()),
                    "not_found",
                    "a bad append fails alone"
                );
            } else {
                let e = result.unwrap();
                assert_eq!(
                    (e.data["w"].as_i64(), e.data["n"].as_i64(), e.actor.as_str()),
                    (Some(w), Some(n), format!("w{w}").as_str())
                );
                ok += 1;
            }
        }
    }
    let events = s.list_events(t.id, mine.id).await.unwrap();
    assert_eq!(
        events.len(),
        1 + ok,
        "every acknowledged append is stored, once"
    );
    let stored: std::collections::BTreeSet<(i64, i64)> = events[1..]
        .iter()
        .map(|e| (e.data["w"].as_i64().unwrap(), e.data["n"].as_i64().unwrap()))
        .collect();
    assert_eq!(stored.len(), ok);
    for e in &events[1..] {
        let listed = e.data["w"].as_i64().unwrap();
        assert_eq!(
            e.actor,
            format!("w{listed}"),
            "ids pair with their own events"
        );
    }
    assert_eq!(
        s.list_events(other.id, theirs.id).await.unwrap().len(),
        1,
        "nothing reached the other tenant"
    );
}

pub async fn routing_journal(s: &Store) {
    let t = tenant(s, "acme").await;
    let other = tenant(s, "other").await;
    let at = time::OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
    // Agents' logs: the latest of each, across tenants, oldest first.
    s.append_agent_event(
        t.id,
        7,
        at,
        "routing.agent_state",
        &json!({"state": "available"}),
    )
    .await
    .unwrap();
    s.append_agent_event(
        other.id,
        9,
        at,
        "routing.agent_state",
        &json!({"state": "offline"}),
    )
    .await
    .unwrap();
    let last = s
        .append_agent_event(
            t.id,
            7,
            at + Duration::seconds(5),
            "routing.agent_state",
            &json!({"state": "not_ready"}),
        )
        .await
        .unwrap();
    let latest = s.latest_agent_events().await.unwrap();
    assert_eq!(
        latest.iter().map(|e| e.agent_id).collect::<Vec<_>>(),
        vec![9, 7]
    );
    assert_eq!(latest[1].id, last);
    assert_eq!(latest[1].data, json!({"state": "not_ready"}));
    assert_eq!(latest[1].at, at + Duration::seconds(5));
    assert_eq!(s.agent_events(t.id, 7).await.unwrap().len(), 2);
    assert!(
        s.agent_events(other.id, 7).await.unwrap().is_empty(),
        "tenant-scoped"
    );
    assert!(s
        .execute_unchecked("UPDATE agent_events SET kind = 'forged'")
        .await
        .is_err());
    assert!(s
        .execute_unchecked("DELETE FROM agent_events")
        .await
        .is_err());
    assert!(s
        .append_agent_event(t.id, 7, at, "", &json!({}))
        .await
        .is_err());
    // A round of decisions at once: in order, all or nothing.
    let round = |state: &str, secs: i64| hotline_store::NewAgentEvent {
        tenant_id: t.id,
        agent_id: 8,
        at: at + Duration::seconds(secs),
        kind: "routing.agent_state".into(),
        data: json!({ "state": state }),
    };
    let ids = s
        .append_agent_events(&[round("available", 1), round("busy", 2), round("wrap_up", 3)])
        .await
        .unwrap();
    assert_eq!(ids.len(), 3);
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "in order");
    let log = s.agent_events(t.id, 8).await.unwrap();
    assert_eq!(
        log.iter()
            .map(|e| e.data["state"].as_str().unwrap())
            .collect::<Vec<_>>(),
        vec!["available", "busy", "wrap_up"]
    );
    let mut bad = round("x", 4);
    bad.kind = String::new();
    assert!(s
        .append_agent_events(&[round("ready", 4), bad])
        .await
        .is_err());
    assert_eq!(
        s.agent_events(t.id, 8).await.unwrap().len(),
        3,
        "nothing of a refused round"
    );
    // Contacts: routing events of interactions not finished, in the order written.
    let (open, _) = s
        .create_interaction(t.id, &voice(None, None), "system")
        .await
        .unwrap();
    let (done, _) = s
        .create_interaction(other.id, &voice(None, None), "system")
        .await
        .unwrap();
    let ev = |kind: &str| NewEvent {
        kind: kind.into(),
        actor: "routing".into(),
        data: json!({"k": kind}),
        at: Some(at),
    };
    s.append_event(t.id, open.id, &ev("routing.queued"))
        .await
        .unwrap();
    s.append_event(other.id, done.id, &ev("routing.queued"))
        .await
        .unwrap();
    s.append_event(t.id, open.id, &ev("note")).await.unwrap();
    s.append_event(t.id, open.id, &ev("routing.callback_requested"))
        .await
        .unwrap();
    s.append_event(other.id, done.id, &ev("routing.abandoned"))
        .await
        .unwrap();
    let open_events = s
        .open_events_with_prefix("routing.", &["routing.abandoned", "routing.ended"])
        .await
        .unwrap();
    let kinds: Vec<(i64, i64, &str)> = open_events
        .iter()
        .map(|(tn, e)| (*tn, e.interaction_id, e.kind.as_str()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (t.id, open.id, "routing.queued"),
            (t.id, open.id, "routing.callback_requested")
        ]
    );
    assert_eq!(open_events[0].1.data, json!({"k": "routing.queued"}));
    // `_` in the prefix is a literal, not a wildcard.
    assert!(s
        .open_events_with_prefix("routing_", &[])
        .await
        .unwrap()
        .is_empty());
}

pub async fn sip_registrations(s: &Store) {
    use hotline_store::registrations::SipRegistration;
    let t = tenant(s, "acme").await;
    let other = tenant(s, "other").await;
    let binding =
        |tenant_id: i64, aor: &str, contact: &str, expires_at: i64, q: i64| SipRegistration {
            tenant_id,
            aor: aor.into(),
            contact: contact.into(),
            expires_at,
            q,
            call_id: "c1".into(),
            cseq: 7,
            source: "udp:10.0.0.7:5060".into(),
        };
    let two = [
        binding(t.id, "1001", "sip:1001@10.0.0.7:5060", 10_000, 500),
        binding(t.id, "1001", "sip:1001@10.0.0.8", 20_000, 1000),
    ];
    s.replace_registrations(t.id, "1001", &two).await.unwrap();
    s.replace_registrations(
        other.id,
        "1001",
        &[binding(other.id, "1001", "sip:x@h", 30_000, 1000)],
    )
    .await
    .unwrap();
    let mine = s.registrations_of(t.id, "1001", 0).await.unwrap();
    assert_eq!(
        mine,
        [two[1].clone(), two[0].clone()],
        "best q first, per tenant"
    );
    // Replacing keeps only the new set; expired rows are not live and are swept.
    s.replace_registrations(t.id, "1001", &two[..1])
        .await
        .unwrap();
    assert_eq!(
        s.registrations_of(t.id, "1001", 0).await.unwrap(),
        [two[0].clone()]
    );
    assert_eq!(
        s.live_registrations(15_000).await.unwrap().len(),
        1,
        "only the other tenant's is live at 15 s"
    );
    assert_eq!(s.sweep_registrations(15_000).await.unwrap(), 1);
    assert_eq!(s.live_registrations(0).await.unwrap().len(), 1);
    // A binding of another AOR or tenant cannot sneak into a replacement.
    assert!(s.replace_registrations(t.id, "1002", &two).await.is_err());
    s.replace_registrations(other.id, "1001", &[])
        .await
        .unwrap();
    assert!(s.live_registrations(0).await.unwrap().is_empty());
}

pub async fn dial_plan(s: &Store) {
    use hotline_store::dialplan::NewSipTrunk;
    let t = tenant(s, "acme").await;
    let other = tenant(s, "other").await;
    let trunk = |name: &str, register: bool| NewSipTrunk {
        username: Some("acme".into()),
        password: Some("s3cret".into()),
        register,
        ..NewSipTrunk::peer(name, "192.0.2.10", 5060)
    };
    let carrier = s.create_trunk(t.id, &trunk("carrier", true)).await.unwrap();
    assert!(carrier.register && carrier.port == 5060);
    assert!(matches!(
        s.create_trunk(t.id, &trunk("carrier", false)).await,
        Err(StoreError::Conflict { .. })
    ));
    let mut bad = trunk("x", true);
    bad.password = None;
    assert!(matches!(
        s.create_trunk(t.id, &bad).await,
        Err(StoreError::Invalid(_))
    ));
    bad = trunk("y", false);
    bad.transport = "sctp".into();
    assert!(matches!(
        s.create_trunk(t.id, &bad).await,
        Err(StoreError::Invalid(_))
    ));
    bad = trunk("z", false);
    bad.host = "evil host; rm".into();
    assert!(matches!(
        s.create_trunk(t.id, &bad).await,
        Err(StoreError::Invalid(_))
    ));
    // A NUL (PostgreSQL cannot store one) in any text is refused as input, not met as a
    // database error.
    for field in ["name", "username", "password"] {
        bad = trunk("w", true);
        match field {
            "name" => bad.name = "carrier\0two".into(),
            "username" => bad.username = Some("user\0".into()),
            _ => bad.password = Some("pass\0word".into()),
        }
        assert!(
            matches!(
                s.create_trunk(t.id, &bad).await,
                Err(StoreError::Invalid(_))
            ),
            "{field}"
        );
    }

    let did = s
        .create_number(t.id, "74951234567", "extension", "1001")
        .await
        .unwrap();
    s.create_number(t.id, "74950000000", "trunk", "carrier")
        .await
        .unwrap();
    assert!(matches!(
        s.create_number(t.id, "74951234567", "extension", "1002")
            .await,
        Err(StoreError::Conflict { .. })
    ));
    // Another tenant may own the same digits; a trunk of another tenant is not a target.
    s.create_number(other.id, "74951234567", "extension", "1001")
        .await
        .unwrap();
    assert!(matches!(
        s.create_number(other.id, "1", "trunk", "carrier").await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        s.create_number(t.id, "12a", "extension", "1").await,
        Err(StoreError::Invalid(_))
    ));
    // Targets that cannot be names are refused before any query (PostgreSQL holds no NUL;
    // Schemathesis found a flow target with one).
    for (kind, target) in [("flow", "t\u{0}©"), ("trunk", "c\u{0}"), ("flow", "../x")] {
        assert!(
            matches!(
                s.create_number(t.id, "102", kind, target).await,
                Err(StoreError::Invalid(_))
            ),
            "{kind} {target:?}"
        );
    }
    // A number Hotline answers itself: only services it has.
    let test_line = s
        .create_number(t.id, "100", "service", "test")
        .await
        .unwrap();
    assert_eq!(
        (test_line.kind.as_str(), test_line.target.as_str()),
        ("service", "test")
    );
    assert!(matches!(
        s.create_number(t.id, "101", "service", "voicemail").await,
        Err(StoreError::Invalid(_))
    ));
    s.delete_number(t.id, test_line.id).await.unwrap();
    let route = s
        .create_route(t.id, "8", carrier.id, 1, "+7")
        .await
        .unwrap();
    assert!(matches!(
        s.create_route(other.id, "9", carrier.id, 0, "").await,
        Err(StoreError::Invalid(_))
    ));
    let plan = s.dial_plan().await.unwrap();
    assert_eq!(plan.trunks, vec![carrier.clone()]);
    assert_eq!(plan.numbers.len(), 3);
    assert_eq!(plan.numbers[0], did);
    assert_eq!(plan.routes, vec![route.clone()]);
    s.delete_number(t.id, did.id).await.unwrap();
    assert!(matches!(
        s.delete_number(t.id, did.id).await,
        Err(StoreError::NotFound)
    ));
    // Deleting a trunk takes its routes with it.
    s.delete_trunk(t.id, carrier.id).await.unwrap();
    let plan = s.dial_plan().await.unwrap();
    assert!(plan.trunks.is_empty() && plan.routes.is_empty());
    assert!(matches!(
        s.delete_route(t.id, route.id).await,
        Err(StoreError::NotFound)
    ));
}

pub async fn dial_plan_per_tenant(s: &Store) {
    use hotline_store::dialplan::NewSipTrunk;
    let t = tenant(s, "acme").await;
    let other = tenant(s, "other").await;
    let new = NewSipTrunk {
        transport: "tcp".into(),
        ..NewSipTrunk::peer("carrier", "carrier.example", 5060)
    };
    let a = s.create_trunk(t.id, &new).await.unwrap();
    let b = s.create_trunk(other.id, &new).await.unwrap();
    s.create_number(t.id, "100", "trunk", "carrier")
        .await
        .unwrap();
    s.create_route(other.id, "9", b.id, 0, "").await.unwrap();
    assert_eq!(s.list_trunks(t.id).await.unwrap(), vec![a.clone()]);
    assert_eq!(s.list_trunks(other.id).await.unwrap(), vec![b.clone()]);
    assert_eq!(s.list_numbers(t.id).await.unwrap().len(), 1);
    assert!(s.list_numbers(other.id).await.unwrap().is_empty());
    assert!(s.list_routes(t.id).await.unwrap().is_empty());
    assert_eq!(s.list_routes(other.id).await.unwrap().len(), 1);
    // Another tenant's objects are not found for deletion.
    assert!(matches!(
        s.delete_trunk(t.id, b.id).await,
        Err(StoreError::NotFound)
    ));
}

pub async fn flows_calendars_and_lookups(s: &Store) {
    let a = tenant(s, "fa").await.id;
    let b = tenant(s, "fb").await.id;
    let v1 = s.save_flow(a, "main", "flow: main\n").await.unwrap();
    assert_eq!((v1.name.as_str(), v1.version), ("main", 1));
    let v2 = s.save_flow(a, "main", "flow: main # 2\n").await.unwrap();
    assert_eq!(v2.version, 2);
    s.save_flow(a, "other", "flow: other\n").await.unwrap();
    s.save_flow(b, "main", "flow: b\n").await.unwrap();
    assert_eq!(s.flow(a, "main", None).await.unwrap(), v2);
    assert_eq!(s.flow(a, "main", Some(1)).await.unwrap(), v1);
    assert_eq!(
        code(s.flow(a, "main", Some(9)).await.unwrap_err()),
        "not_found"
    );
    assert_eq!(
        code(s.flow(a, "nope", None).await.unwrap_err()),
        "not_found"
    );
    let versions: Vec<i64> = s
        .flow_versions(a, "main")
        .await
        .unwrap()
        .iter()
        .map(|f| f.version)
        .collect();
    assert_eq!(versions, [2, 1]);
    let latest: Vec<(i64, String, i64)> = s
        .latest_flows(None)
        .await
        .unwrap()
        .into_iter()
        .map(|f| (f.tenant_id, f.name, f.version))
        .collect();
    assert_eq!(
        latest,
        [
            (a, "main".into(), 2),
            (a, "other".into(), 1),
            (b, "main".into(), 1)
        ]
    );
    assert_eq!(s.latest_flows(Some(b)).await.unwrap().len(), 1);
    assert_eq!(
        code(s.save_flow(a, "bad name", "x").await.unwrap_err()),
        "invalid:name"
    );
    // Versions are numbered per tenant: B's flow is isolated from A's.
    assert_eq!(
        code(s.flow(b, "other", None).await.unwrap_err()),
        "not_found"
    );

    // A number may lead to a flow of its tenant only.
    s.create_number(a, "8800", "flow", "main").await.unwrap();
    assert_eq!(
        code(
            s.create_number(b, "8801", "flow", "other")
                .await
                .unwrap_err()
        ),
        "invalid:target"
    );
    let plan = s.dial_plan().await.unwrap();
    assert!(plan
        .numbers
        .iter()
        .any(|n| n.kind == "flow" && n.target == "main" && n.tenant_id == a));

    assert_eq!(s.calendars(a).await.unwrap(), None);
    s.set_calendars(a, "calendars: {}\n").await.unwrap();
    let c = s.set_calendars(a, "calendars:\n  x: {}\n").await.unwrap();
    assert_eq!(s.calendars(a).await.unwrap(), Some(c));
    assert_eq!(s.all_calendars().await.unwrap().len(), 1);
    assert_eq!(s.calendars(b).await.unwrap(), None);

    let rows = vec![
        ("1".to_string(), json!({"status": "new"})),
        ("2".to_string(), json!({"status": "sent", "n": 2})),
    ];
    assert_eq!(s.put_lookup_rows(a, "orders", &rows).await.unwrap(), 2);
    s.put_lookup_rows(a, "orders", &[("1".to_string(), json!({"status": "paid"}))])
        .await
        .unwrap();
    assert_eq!(
        s.lookup_row(a, "orders", "1").await.unwrap(),
        Some(json!({"status": "paid"}))
    );
    assert_eq!(
        s.lookup_row(a, "orders", "2").await.unwrap().unwrap()["n"],
        2
    );
    assert_eq!(s.lookup_row(b, "orders", "1").await.unwrap(), None);
    assert_eq!(s.lookup_row(a, "orders", "3").await.unwrap(), None);
    assert_eq!(
        code(
            s.put_lookup_rows(a, "orders", &[("k".to_string(), json!(5))])
                .await
                .unwrap_err()
        ),
        "invalid:rows"
    );
}

pub async fn scheduled_callbacks(s: &Store) {
    let t = tenant(s, "acme").await;
    let other = tenant(s, "other").await;
    let q = s.create_queue(t.id, &voice_queue("Q")).await.unwrap();
    let c = s
        .create_customer(t.id, &customer("Ольга", &["+79165550102"], &[]))
        .await
        .unwrap();
    let u = s
        .create_user(
            t.id,
            &NewUser {
                username: "anna".into(),
                display_name: "Анна".into(),
                role: Role::Agent,
                password: "password1".into(),
            },
        )
        .await
        .unwrap();
    let a = s
        .create_agent(
            t.id,
            &NewAgent {
                user_id: u.id,
                extension: "1001".into(),
                skills: vec![],
                sip_password: None,
            },
        )
        .await
        .unwrap();
    let (origin, _) = s
        .create_interaction(t.id, &voice(Some(c.id), Some(q.id)), "trunk")
        .await
        .unwrap();
    let now = time::OffsetDateTime::now_utc();
    let at = |h: i64| {
        let t = now + Duration::hours(h);
        t.replace_nanosecond(0).unwrap()
    };
    let mine = |h: i64, agent: Option<i64>| NewCallback {
        queue_id: q.id,
        customer_id: Some(c.id),
        agent_id: agent,
        number: "+79165550102".into(),
        due_at: at(h),
        note: "Перезвонить с ответом по заявке".into(),
        origin_interaction_id: Some(origin.id),
    };
    let later = s
        .schedule_callback(t.id, &mine(5, Some(a.id)), "anna")
        .await
        .unwrap();
    let sooner = s
        .schedule_callback(t.id, &mine(2, Some(a.id)), "anna")
        .await
        .unwrap();
    let queue_one = s
        .schedule_callback(t.id, &mine(1, None), "anna")
        .await
        .unwrap();
    assert_eq!(later.state, InteractionState::Queued);
    assert_eq!(later.customer_name.as_deref(), Some("Ольга"));
    assert_eq!(later.due_at, at(5));
    assert_eq!(later.origin_interaction_id, Some(origin.id));
    // Its interaction is an outbound call with the promise on its timeline and its note.
    let i = s.get_interaction(t.id, later.interaction_id).await.unwrap();
    assert_eq!(
        (i.channel, i.direction, i.state, i.agent_id, i.customer_id),
        (
            Channel::Voice,
            Direction::Outbound,
            InteractionState::Queued,
            Some(a.id),
            Some(c.id)
        )
    );
    assert_eq!(i.notes, "Перезвонить с ответом по заявке");
    let kinds: Vec<String> = s
        .list_events(t.id, i.id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, vec!["created", "callback.scheduled"]);
    // Mine, earliest first; the queue's is not mine.
    let filter = CallbackFilter {
        agent_id: Some(a.id),
        open_only: true,
        limit: 50,
        ..Default::default()
    };
    let list = s.list_callbacks(t.id, &filter).await.unwrap();
    let ids: Vec<i64> = list.iter().map(|c| c.interaction_id).collect();
    assert_eq!(ids, vec![sooner.interaction_id, later.interaction_id]);
    let all = CallbackFilter {
        limit: 50,
        ..Default::default()
    };
    assert_eq!(s.list_callbacks(t.id, &all).await.unwrap().len(), 3);
    let window = CallbackFilter {
        from: Some(at(2)),
        to: Some(at(5)),
        limit: 50,
        ..Default::default()
    };
    let ids: Vec<i64> = s
        .list_callbacks(t.id, &window)
        .await
        .unwrap()
        .iter()
        .map(|c| c.interaction_id)
        .collect();
    assert_eq!(ids, vec![sooner.interaction_id]);
    // Cancelled: closed, off the open list, once.
    let cancelled = s
        .cancel_callback(t.id, sooner.interaction_id, "anna")
        .await
        .unwrap();
    assert_eq!(cancelled.state, InteractionState::Closed);
    let list = s.list_callbacks(t.id, &filter).await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(
        code(
            s.cancel_callback(t.id, sooner.interaction_id, "anna")
                .await
                .unwrap_err()
        ),
        "callback_finished"
    );
    // Being dialled: not cancelled under the call.
    s.update_interaction(
        t.id,
        queue_one.interaction_id,
        &InteractionPatch {
            state: Some(InteractionState::Offered),
            ..Default::default()
        },
        "telephony",
    )
    .await
    .unwrap();
    assert_eq!(
        code(
            s.cancel_callback(t.id, queue_one.interaction_id, "anna")
                .await
                .unwrap_err()
        ),
        "callback_in_progress"
    );
    // Tenants see only their own; references are the tenant's.
    assert!(s.list_callbacks(other.id, &all).await.unwrap().is_empty());
    assert_eq!(
        code(
            s.callback(other.id, later.interaction_id)
                .await
                .unwrap_err()
        ),
        "not_found"
    );
    let mut foreign = mine(3, Some(a.id));
    foreign.queue_id = s
        .create_queue(other.id, &voice_queue("Q"))
        .await
        .unwrap()
        .id;
    assert_eq!(
        code(
            s.schedule_callback(t.id, &foreign, "anna")
                .await
                .unwrap_err()
        ),
        "invalid:queue_id"
    );
    let mut empty = mine(3, None);
    empty.number = " ".into();
    assert_eq!(
        code(s.schedule_callback(t.id, &empty, "anna").await.unwrap_err()),
        "invalid:number"
    );
}

fn mailbox(queue_id: i64, address: &str) -> NewEmailAccount {
    NewEmailAccount {
        queue_id,
        address: address.into(),
        display_name: "Поддержка".into(),
        imap_host: "127.0.0.1".into(),
        imap_port: 143,
        imap_user: address.into(),
        imap_password: "secret".into(),
        imap_folder: "INBOX".into(),
        done_folder: "Hotline".into(),
        smtp_host: "127.0.0.1".into(),
        smtp_port: 25,
        smtp_user: String::new(),
        smtp_password: String::new(),
        auto_ack: true,
        imap_security: "starttls".into(),
        smtp_security: "none".into(),
        tls_ca_pem: String::new(),
    }
}

fn inbound(account: i64, key: &str, from: &str) -> InboundEmail {
    InboundEmail {
        account_id: account,
        dedupe_key: format!("mid:{key}"),
        message_id: Some(key.into()),
        from_addr: from.into(),
        from_name: "Иван Петров".into(),
        to: vec!["support@example.test".into()],
        subject: "Карта".into(),
        body_text: "Моя карта заблокирована".into(),
        ..Default::default()
    }
}

pub async fn email_messages(s: &Store) {
    let t = tenant(s, "acme").await;
    let other = tenant(s, "other").await;
    let mut q = voice_queue("Mail");
    q.channels = vec![Channel::Email];
    let q = s.create_queue(t.id, &q).await.unwrap();
    let acc = s
        .create_email_account(t.id, &mailbox(q.id, "Support@Example.test"))
        .await
        .unwrap();
    assert_eq!(acc.address, "support@example.test");
    assert_eq!(
        code(
            s.create_email_account(t.id, &mailbox(q.id, "support@example.test"))
                .await
                .unwrap_err()
        ),
        "already_exists"
    );
    // Another tenant cannot point a mailbox at this tenant's queue, nor see this one.
    assert!(s
        .create_email_account(other.id, &mailbox(q.id, "x@example.test"))
        .await
        .is_err());
    assert!(s.list_email_accounts(other.id).await.unwrap().is_empty());
    assert_eq!(s.active_email_accounts().await.unwrap().len(), 1);

    // A new request: a customer created from the sender, a queued interaction, the message.
    let mut first = inbound(acc.id, "c1@example.ru", "ivan@example.ru");
    first.attachments = vec![NewAttachment {
        name: "счёт.pdf".into(),
        content_type: "application/pdf".into(),
        size: 3,
        sha256: "a".repeat(64),
    }];
    let Ingested::New {
        interaction,
        message,
        customer_created,
    } = s.ingest_email(t.id, &first).await.unwrap()
    else {
        panic!("a new request")
    };
    assert!(customer_created);
    assert_eq!(interaction.channel, Channel::Email);
    assert_eq!(interaction.state, InteractionState::Queued);
    assert_eq!(interaction.queue_id, Some(q.id));
    assert_eq!(interaction.subject.as_deref(), Some("Карта"));
    assert_eq!(message.attachments.len(), 1);
    let found = s
        .find_by_identifier(t.id, IdentifierKind::Email, "ivan@example.ru")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.name, "Иван Петров");
    assert_eq!(interaction.customer_id, Some(found.id));

    // The same mail again (a restart before it left the mailbox): stored once.
    match s.ingest_email(t.id, &first).await.unwrap() {
        Ingested::Duplicate { interaction_id } => assert_eq!(interaction_id, interaction.id),
        other => panic!("{other:?}"),
    }

    // An answer goes out; its id threads the customer's reply.
    let out = s
        .add_outbound_message(
            t.id,
            interaction.id,
            &NewOutbound {
                account_id: Some(acc.id),
                message_id: "hl-1@example.test".into(),
                from_addr: acc.address.clone(),
                to: vec!["ivan@example.ru".into()],
                subject: "Re: Карта".into(),
                body_text: "Разблокирована".into(),
                author: "user:1".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(out.status, "sending");
    let out = s
        .set_message_status(t.id, out.id, "sent", None)
        .await
        .unwrap();
    assert_eq!(out.status, "sent");
    let mut reply = inbound(acc.id, "c2@example.ru", "ivan@example.ru");
    reply.replies_to = vec!["hl-1@example.test".into()];
    match s.ingest_email(t.id, &reply).await.unwrap() {
        Ingested::Joined {
            interaction: i,
            reopened,
            ..
        } => {
            assert_eq!(i.id, interaction.id);
            assert!(!reopened);
        }
        other => panic!("{other:?}"),
    }
    // A bounce names our message: it is marked and joins the same interaction.
    let mut bounce = inbound(acc.id, "b1@mx", "mailer-daemon@example.test");
    bounce.auto = true;
    bounce.bounce_of = vec!["hl-1@example.test".into()];
    match s.ingest_email(t.id, &bounce).await.unwrap() {
        Ingested::Joined { bounced, .. } => assert_eq!(bounced, Some(out.id)),
        other => panic!("{other:?}"),
    }
    assert_eq!(s.message(t.id, out.id).await.unwrap().status, "bounced");

    // Closed, then the ticket tag from the same sender reopens it; from a stranger it does not.
    s.update_interaction(
        t.id,
        interaction.id,
        &InteractionPatch {
            state: Some(InteractionState::Closed),
            ..Default::default()
        },
        "anna",
    )
    .await
    .unwrap();
    let mut stranger = inbound(acc.id, "s1@evil", "evil@example.com");
    stranger.ticket = Some(interaction.id);
    assert!(matches!(
        s.ingest_email(t.id, &stranger).await.unwrap(),
        Ingested::New { .. }
    ));
    let mut again = inbound(acc.id, "c3@example.ru", "ivan@example.ru");
    again.ticket = Some(interaction.id);
    match s.ingest_email(t.id, &again).await.unwrap() {
        Ingested::Joined {
            interaction: i,
            reopened,
            ..
        } => {
            assert!(reopened);
            assert_eq!(i.state, InteractionState::Queued);
            assert_eq!(i.ended_at, None);
        }
        other => panic!("{other:?}"),
    }
    let list = s.list_messages(t.id, interaction.id).await.unwrap();
    assert_eq!(list.len(), 5, "{list:?}");
    assert_eq!(list[0].attachments.len(), 1);
    let kinds: Vec<String> = s
        .list_events(t.id, interaction.id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    for k in [
        "email.received",
        "email.sending",
        "email.sent",
        "email.bounced",
        "reopened",
    ] {
        assert!(kinds.iter().any(|x| x == k), "{k} in {kinds:?}");
    }
    assert_eq!(s.count_messages(t.id, acc.id).await.unwrap(), 5);
    // Tenant isolation.
    assert!(s.list_messages(other.id, interaction.id).await.is_err());
    assert!(s
        .attachment(other.id, list[0].attachments[0].id)
        .await
        .is_err());
    assert_eq!(
        s.tenant_of_interaction(interaction.id).await.unwrap(),
        Some(t.id)
    );
    // NUL characters (PostgreSQL's TEXT cannot hold them) do not keep a mail from being stored.
    let mut nul = inbound(acc.id, "n1@example.ru", "ivan@example.ru");
    nul.body_text = "a\0b".into();
    nul.subject = "\0".into();
    assert!(matches!(
        s.ingest_email(t.id, &nul).await.unwrap(),
        Ingested::New { .. }
    ));
    assert!(s.set_calendars(t.id, "\0").await.is_err());
    assert!(s.save_flow(t.id, "f", "\0").await.is_err());
    s.deactivate_email_account(t.id, acc.id).await.unwrap();
    assert!(s.active_email_accounts().await.unwrap().is_empty());
    // The address is free again.
    s.create_email_account(t.id, &mailbox(q.id, "support@example.test"))
        .await
        .unwrap();
}

pub async fn web_sites_chats_and_forms(s: &Store) {
    let t = tenant(s, "acme").await;
    let other = tenant(s, "other").await;
    let mut q = voice_queue("Chat");
    q.channels = vec![Channel::Chat, Channel::Form];
    let q = s.create_queue(t.id, &q).await.unwrap();
    let acc = s
        .create_email_account(t.id, &mailbox(q.id, "web@example.test"))
        .await
        .unwrap();
    let new = NewSite {
        name: "Shop".into(),
        origins: vec![
            "https://Shop.example/".into(),
            "http://127.0.0.1:8080".into(),
        ],
        chat_queue_id: Some(q.id),
        form_queue_id: Some(q.id),
        email_account_id: Some(acc.id),
        greeting: "Здравствуйте!".into(),
    };
    let site = s.create_site(t.id, &new).await.unwrap();
    assert!(site.key.starts_with("hlw_") && site.key.len() == 28);
    assert_eq!(
        site.origins,
        vec!["https://shop.example", "http://127.0.0.1:8080"]
    );
    assert!(site.allows("https://shop.example") && !site.allows("https://evil.example"));
    // Origins are checked; another tenant's queue cannot be named.
    let mut bad = new.clone();
    bad.origins = vec!["shop.example".into()];
    assert_eq!(
        code(s.create_site(t.id, &bad).await.unwrap_err()),
        "invalid:origins"
    );
    assert!(s.create_site(other.id, &new).await.is_err());
    assert_eq!(s.site_by_key(&site.key).await.unwrap().unwrap().id, site.id);
    assert!(s.list_sites(other.id).await.unwrap().is_empty());

    // A chat: customer created, queued interaction, the first message, a secret that finds it.
    let visitor = Visitor {
        name: "Пётр".into(),
        email: Some("Petr@Example.ru".into()),
        phone: Some("8 912 345-67-89".into()),
    };
    let opened = s
        .open_chat(&site, &visitor, Some("Где мой заказ?"))
        .await
        .unwrap();
    assert_eq!(opened.interaction.channel, Channel::Chat);
    assert_eq!(opened.interaction.state, InteractionState::Queued);
    assert_eq!(opened.interaction.queue_id, Some(q.id));
    assert_eq!(
        opened.session.visitor_email.as_deref(),
        Some("petr@example.ru")
    );
    assert_eq!(
        opened.session.visitor_phone.as_deref(),
        Some("+79123456789")
    );
    let first = opened.message.clone().unwrap();
    assert_eq!(first.body_text, "Где мой заказ?");
    assert_eq!(first.direction, Direction::Inbound);
    let found = s.chat_by_token(&opened.token).await.unwrap().unwrap();
    assert_eq!(found.interaction_id, opened.interaction.id);
    assert!(s.chat_by_token("hlc_nothing").await.unwrap().is_none());
    let iid = opened.interaction.id;
    assert_eq!(
        s.chat_of_interaction(t.id, iid).await.unwrap().unwrap().id,
        opened.session.id
    );
    // The same visitor again is the same customer.
    let again = s.open_chat(&site, &visitor, None).await.unwrap();
    assert_eq!(
        again.interaction.customer_id,
        opened.interaction.customer_id
    );
    assert!(again.message.is_none());

    // A message sent twice with the same client id is stored once.
    let line = ChatLine {
        inbound: true,
        client_id: Some("m-1".into()),
        author: "customer".into(),
        from_name: "Пётр".into(),
        text: "Номер 12345".into(),
        attachments: vec![],
    };
    let (m1, fresh1) = s.add_chat_message(t.id, iid, &line).await.unwrap();
    let (m2, fresh2) = s.add_chat_message(t.id, iid, &line).await.unwrap();
    assert!(fresh1 && !fresh2);
    assert_eq!(m1.id, m2.id);
    // The same client id on another chat is another message.
    let (m3, fresh3) = s
        .add_chat_message(t.id, again.interaction.id, &line)
        .await
        .unwrap();
    assert!(fresh3 && m3.id != m1.id);
    let agent_line = ChatLine {
        inbound: false,
        client_id: None,
        author: "user:1".into(),
        from_name: "Анна".into(),
        text: "Смотрю".into(),
        attachments: vec![],
    };
    let (m4, _) = s.add_chat_message(t.id, iid, &agent_line).await.unwrap();
    assert_eq!(m4.direction, Direction::Outbound);
    let all = s.list_messages(t.id, iid).await.unwrap();
    assert_eq!(
        all.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![first.id, m1.id, m4.id]
    );
    let mut empty = line.clone();
    empty.client_id = None;
    empty.text = "  ".into();
    assert_eq!(
        code(s.add_chat_message(t.id, iid, &empty).await.unwrap_err()),
        "invalid:text"
    );
    let events = s.list_events(t.id, iid).await.unwrap();
    assert!(events.iter().any(|e| e.kind == "chat.started"));
    assert_eq!(
        events.iter().filter(|e| e.kind == "chat.message").count(),
        3
    );

    // Ended once; a closed chat takes no more messages (a resend of a stored one is still
    // answered with it).
    assert!(s
        .end_chat(t.id, opened.session.id, "customer")
        .await
        .unwrap());
    assert!(!s
        .end_chat(t.id, opened.session.id, "customer")
        .await
        .unwrap());
    s.update_interaction(
        t.id,
        iid,
        &InteractionPatch {
            state: Some(InteractionState::Closed),
            ..Default::default()
        },
        "test",
    )
    .await
    .unwrap();
    let mut late = line.clone();
    late.client_id = Some("m-2".into());
    assert_eq!(
        code(s.add_chat_message(t.id, iid, &late).await.unwrap_err()),
        "chat_ended"
    );
    assert_eq!(
        s.add_chat_message(t.id, iid, &line).await.unwrap().0.id,
        m1.id
    );

    // A form: a form interaction with the text as an inbound message through the mailbox.
    let (form, msg) = s
        .create_web_message(
            &site,
            Channel::Form,
            q.id,
            &visitor,
            "Перезвоните",
            "Нужна консультация",
        )
        .await
        .unwrap();
    assert_eq!(form.channel, Channel::Form);
    assert_eq!(form.customer_id, opened.interaction.customer_id);
    assert_eq!(form.subject.as_deref(), Some("Перезвоните"));
    assert_eq!(msg.account_id, Some(acc.id));
    assert_eq!(msg.from_addr, "petr@example.ru");
    let nameless = Visitor {
        name: " ".into(),
        ..Default::default()
    };
    assert_eq!(
        code(
            s.create_web_message(&site, Channel::Form, q.id, &nameless, "", "x")
                .await
                .unwrap_err()
        ),
        "invalid:name"
    );
    let bad_mail = Visitor {
        name: "X".into(),
        email: Some("not-an-address".into()),
        ..Default::default()
    };
    assert!(s.open_chat(&site, &bad_mail, None).await.is_err());

    // Templates.
    let tpl = s
        .create_template(t.id, "Приветствие", "Здравствуйте! Чем помочь?", "chat")
        .await
        .unwrap();
    assert_eq!(
        code(
            s.create_template(t.id, "Приветствие", "x", "chat")
                .await
                .unwrap_err()
        ),
        "already_exists"
    );
    assert_eq!(
        code(s.create_template(t.id, "Y", "x", "fax").await.unwrap_err()),
        "invalid:channel"
    );
    assert_eq!(s.list_templates(t.id).await.unwrap(), vec![tpl.clone()]);
    assert!(s.list_templates(other.id).await.unwrap().is_empty());
    assert_eq!(
        code(s.delete_template(other.id, tpl.id).await.unwrap_err()),
        "not_found"
    );
    s.delete_template(t.id, tpl.id).await.unwrap();

    // A site turned off no longer answers to its key.
    s.delete_site(t.id, site.id).await.unwrap();
    assert!(s.site_by_key(&site.key).await.unwrap().is_none());
}
