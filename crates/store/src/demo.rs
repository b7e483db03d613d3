//! The demo tenant that `hotline serve --demo` starts with: a bank's hotline with an admin, a
//! supervisor, three agents (extensions 1001–1003), two queues with scripts, dispositions, about
//! fifty customers with Russian and English names, and four weeks of past interactions.
//! Deterministic (a fixed seed), and idempotent: a second start finds the tenant and adds nothing.

use crate::{InteractionPatch, UserPatch};
use crate::{
    NewAgent, NewCustomer, NewDisposition, NewEvent, NewInteraction, NewQueue, NewScript,
    NewTenant, NewUser,
};
use crate::{Result, Store, StoreError};
use hotline_model::{
    Channel, Direction, Identifier, IdentifierKind, InteractionState, Role, Skill,
};
use serde_json::json;
use std::collections::BTreeMap;
use time::{Duration, OffsetDateTime};

pub const DEMO_SLUG: &str = "demo";

/// What the demo set-up did, for the start-up banner.
#[derive(Debug, Clone)]
pub struct DemoReport {
    pub tenant_id: i64,
    /// False when the demo tenant was already there.
    pub created: bool,
    /// User names with their roles.
    pub users: Vec<(String, Role)>,
}

/// A small deterministic generator (SplitMix64): the demo is the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const RU_MALE: &[(&str, &str)] = &[
    ("Иван", "Иванов"),
    ("Пётр", "Смирнов"),
    ("Алексей", "Кузнецов"),
    ("Дмитрий", "Попов"),
    ("Сергей", "Васильев"),
    ("Андрей", "Соколов"),
    ("Михаил", "Михайлов"),
    ("Николай", "Новиков"),
    ("Владимир", "Фёдоров"),
    ("Артём", "Морозов"),
    ("Егор", "Волков"),
    ("Константин", "Лебедев"),
    ("Олег", "Семёнов"),
    ("Юрий", "Егоров"),
    ("Павел", "Павлов"),
];
const RU_FEMALE: &[(&str, &str)] = &[
    ("Анна", "Иванова"),
    ("Мария", "Смирнова"),
    ("Елена", "Кузнецова"),
    ("Ольга", "Попова"),
    ("Наталья", "Васильева"),
    ("Татьяна", "Соколова"),
    ("Ирина", "Михайлова"),
    ("Светлана", "Новикова"),
    ("Екатерина", "Фёдорова"),
    ("Юлия", "Морозова"),
    ("Дарья", "Волкова"),
    ("Ксения", "Лебедева"),
    ("Алина", "Семёнова"),
    ("Вера", "Егорова"),
    ("Полина", "Павлова"),
];
const RU_TRANSLIT: &[&str] = &[
    "ivanov",
    "smirnov",
    "kuznetsov",
    "popov",
    "vasiliev",
    "sokolov",
    "mikhailov",
    "novikov",
    "fedorov",
    "morozov",
    "volkov",
    "lebedev",
    "semenov",
    "egorov",
    "pavlov",
];
const EN_NAMES: &[(&str, &str)] = &[
    ("John", "Smith"),
    ("Emily", "Johnson"),
    ("Michael", "Brown"),
    ("Sarah", "Taylor"),
    ("David", "Wilson"),
    ("Emma", "Davies"),
    ("James", "Evans"),
    ("Olivia", "Thomas"),
    ("Robert", "Roberts"),
    ("Sophie", "Walker"),
    ("William", "Wright"),
    ("Charlotte", "Green"),
    ("Thomas", "Hall"),
    ("Grace", "Wood"),
    ("Daniel", "Clarke"),
];
const COMPANIES: &[&str] = &[
    "ООО «Ромашка»",
    "АО «Север»",
    "Globex Ltd",
    "ИП Смирнов",
    "Initech",
    "ПАО «Восток»",
];
const TAGS: &[&str] = &[
    "кредитная карта",
    "ипотека",
    "зарплатный проект",
    "premium",
    "жалоба",
    "new",
];
const TARIFFS: &[&str] = &["Базовый", "Золотой", "Платиновый", "Standard"];

impl Store {
    /// Creates the demo tenant unless it exists. `password` becomes every demo user's password
    /// and every demo agent's SIP password; when the tenant exists, the users get it again.
    pub async fn seed_demo(&self, password: &str) -> Result<DemoReport> {
        let users = vec![
            ("admin".to_string(), Role::Admin),
            ("supervisor".to_string(), Role::Supervisor),
            ("agent1".to_string(), Role::Agent),
            ("agent2".to_string(), Role::Agent),
            ("agent3".to_string(), Role::Agent),
        ];
        match self.get_tenant_by_slug(DEMO_SLUG).await {
            Ok(t) => {
                for (name, _) in &users {
                    if let Ok(u) = self.get_user_by_username(name).await {
                        // The same password again changes nothing (changing it would end
                        // everyone's sessions: a restart must not log the desks out).
                        let same = self.check_password(name, password).await?.is_some();
                        if u.tenant_id == t.id && !same {
                            self.update_user(
                                t.id,
                                u.id,
                                &UserPatch {
                                    password: Some(password.into()),
                                    ..Default::default()
                                },
                            )
                            .await?;
                        }
                    }
                }
                return Ok(DemoReport {
                    tenant_id: t.id,
                    created: false,
                    users,
                });
            }
            Err(StoreError::NotFound) => {}
            Err(e) => return Err(e),
        }
        let tenant = self
            .create_tenant(&NewTenant {
                name: "Демо-банк / Demo Bank".into(),
                slug: DEMO_SLUG.into(),
                default_region: "RU".into(),
                timezone: "Europe/Moscow".into(),
            })
            .await?;
        let t = tenant.id;
        let display = [
            "Администратор",
            "Супервизор Ольга Петрова",
            "Оператор Анна Сидорова",
            "Оператор Борис Ковалёв",
            "Agent Clara Jones",
        ];
        let mut user_ids = Vec::new();
        for ((name, role), display) in users.iter().zip(display) {
            let u = self
                .create_user(
                    t,
                    &NewUser {
                        username: name.clone(),
                        display_name: display.into(),
                        role: *role,
                        password: password.into(),
                    },
                )
                .await?;
            user_ids.push(u.id);
        }
        let skill = |name: &str, proficiency: u8| Skill {
            name: name.into(),
            proficiency,
        };
        let agent_skills = [
            vec![
                skill("language.ru", 5),
                skill("language.en", 2),
                skill("cards", 5),
                skill("loans", 3),
            ],
            vec![
                skill("language.ru", 5),
                skill("language.en", 4),
                skill("cards", 3),
                skill("loans", 5),
            ],
            vec![
                skill("language.ru", 3),
                skill("language.en", 5),
                skill("cards", 4),
                skill("vip", 4),
            ],
        ];
        let mut agents = Vec::new();
        for (i, skills) in agent_skills.into_iter().enumerate() {
            let a = self
                .create_agent(
                    t,
                    &NewAgent {
                        user_id: user_ids[2 + i],
                        extension: format!("100{}", i + 1),
                        skills,
                        sip_password: Some(password.into()),
                    },
                )
                .await?;
            agents.push(a.id);
        }
        let cards = self
            .create_queue(
                t,
                &NewQueue {
                    name: "Карты / Cards".into(),
                    channels: vec![Channel::Voice, Channel::Chat, Channel::Email],
                    service_level_seconds: 20,
                    service_level_target: 80,
                    priority: 10,
                    wrap_up_seconds: 30,
                    disposition_required: true,
                },
            )
            .await?;
        let loans = self
            .create_queue(
                t,
                &NewQueue {
                    name: "Кредиты / Loans".into(),
                    channels: vec![Channel::Voice, Channel::Form],
                    service_level_seconds: 30,
                    service_level_target: 80,
                    priority: 5,
                    wrap_up_seconds: 45,
                    disposition_required: false,
                },
            )
            .await?;
        self.create_script(
            t,
            &NewScript {
                queue_id: Some(cards.id),
                title: "Карты: приветствие и проверка / Cards: greeting".into(),
                body_markdown: CARDS_SCRIPT.into(),
            },
        )
        .await?;
        self.create_script(
            t,
            &NewScript {
                queue_id: Some(loans.id),
                title: "Кредиты / Loans".into(),
                body_markdown: LOANS_SCRIPT.into(),
            },
        )
        .await?;
        // The company's site: the chat widget (any page may carry it in the demo) waits in
        // Cards, its forms go to Loans; canned responses and reply templates.
        self.create_site(
            t,
            &crate::NewSite {
                name: "Демо-банк / Demo bank".into(),
                origins: vec!["*".into()],
                chat_queue_id: Some(cards.id),
                form_queue_id: Some(loans.id),
                email_account_id: None,
                greeting: "Здравствуйте! Задайте вопрос — оператор ответит в чате. / Hello! Ask us anything.".into(),
            },
        )
        .await?;
        for (name, body, channel) in [
            (
                "Приветствие / Greeting",
                "Здравствуйте, {name}! Меня зовут {agent}. Чем могу помочь?",
                "chat",
            ),
            (
                "Минутку / One moment",
                "Минутку, проверяю информацию.",
                "chat",
            ),
            (
                "Прощание / Goodbye",
                "Спасибо за обращение! Хорошего дня.",
                "any",
            ),
            (
                "Ответ на письмо / Reply",
                "Здравствуйте, {name}!\n\nСпасибо за ваше письмо.\n\nС уважением,\n{agent}",
                "email",
            ),
        ] {
            self.create_template(t, name, body, channel).await?;
        }
        let mut dispositions = Vec::new();
        for (code, name) in [
            ("info_given", "Консультация / Information given"),
            ("sale", "Продажа / Sale"),
            ("complaint", "Жалоба / Complaint"),
            ("callback_requested", "Перезвонить / Callback requested"),
            ("wrong_number", "Ошибочный звонок / Wrong number"),
        ] {
            dispositions.push(
                self.create_disposition(
                    t,
                    &NewDisposition {
                        code: code.into(),
                        name: name.into(),
                        active: true,
                    },
                )
                .await?
                .id,
            );
        }

        let mut rng = Rng(0x0048_4f54_4c49_4e45);
        let now = OffsetDateTime::now_utc();
        let mut customers = Vec::new();
        for i in 0..50u64 {
            let (name, phones, emails) = if i % 3 == 2 {
                let (first, last) = EN_NAMES[(i / 3) as usize % EN_NAMES.len()];
                let phone = format!("+4420794600{:02}", i);
                let email = format!(
                    "{}.{}{i}@example.co.uk",
                    first.to_lowercase(),
                    last.to_lowercase()
                );
                (format!("{first} {last}"), vec![phone], vec![email])
            } else {
                let idx = (i / 2) as usize % RU_MALE.len();
                let ((first, last), translit) = if i % 2 == 0 {
                    (RU_MALE[idx], RU_TRANSLIT[idx])
                } else {
                    (RU_FEMALE[idx], RU_TRANSLIT[idx])
                };
                let phone = format!("+7916{:07}", 5_550_100 + i);
                let mut emails = vec![format!("{translit}{i}@example.ru")];
                if i % 7 == 0 {
                    emails.push(format!("{translit}.work{i}@example.com"));
                }
                let mut phones = vec![phone];
                if i % 5 == 0 {
                    phones.push(format!("+7495{:07}", 1_230_000 + i));
                }
                (format!("{last} {first}"), phones, emails)
            };
            let mut fields = BTreeMap::new();
            fields.insert(
                "contract".to_string(),
                json!(format!("ДК-{:06}", 100_000 + i * 37)),
            );
            fields.insert("tariff".to_string(), json!(rng.pick(TARIFFS)));
            let tags: Vec<String> = (0..rng.below(3))
                .map(|_| rng.pick(TAGS).to_string())
                .collect();
            let ids: Vec<Identifier> = phones
                .iter()
                .map(|p| Identifier {
                    kind: IdentifierKind::Phone,
                    value: p.clone(),
                })
                .chain(emails.iter().map(|e| Identifier {
                    kind: IdentifierKind::Email,
                    value: e.clone(),
                }))
                .collect();
            let created = now - Duration::days(60 + rng.below(300) as i64);
            let c = self
                .insert_customer(
                    t,
                    &NewCustomer {
                        name,
                        company: (i % 6 == 1).then(|| rng.pick(COMPANIES).to_string()),
                        vip: i % 9 == 0,
                        tags,
                        custom_fields: fields,
                        notes: if i % 4 == 0 {
                            "Предпочитает звонки после 18:00.".into()
                        } else {
                            String::new()
                        },
                        ..Default::default()
                    },
                    &ids,
                    crate::to_ms(created),
                )
                .await?;
            customers.push(c.id);
        }

        // Four weeks of history: calls, e-mails, chats and forms, each with its timeline.
        let subjects = [
            "Блокировка карты",
            "Лимит по карте",
            "Досрочное погашение",
            "Card not working abroad",
            "Смена тарифа",
            "Statement request",
        ];
        for (n, customer) in customers.iter().enumerate() {
            for k in 0..rng.below(5) {
                let channel = *rng.pick(&[
                    Channel::Voice,
                    Channel::Voice,
                    Channel::Voice,
                    Channel::Email,
                    Channel::Chat,
                    Channel::Form,
                ]);
                let queue = if rng.below(3) == 0 {
                    loans.id
                } else {
                    cards.id
                };
                let start = now - Duration::minutes(rng.below(28 * 24 * 60) as i64 + 30);
                let agent = agents[(n + k as usize) % agents.len()];
                let (interaction, _) = self
                    .create_interaction(
                        t,
                        &NewInteraction {
                            channel,
                            direction: if rng.below(8) == 0 {
                                Direction::Outbound
                            } else {
                                Direction::Inbound
                            },
                            state: InteractionState::New,
                            customer_id: Some(*customer),
                            queue_id: Some(queue),
                            agent_id: None,
                            subject: (channel != Channel::Voice)
                                .then(|| rng.pick(&subjects).to_string()),
                            notes: String::new(),
                            created_at: Some(start),
                        },
                        "system",
                    )
                    .await?;
                let id = interaction.id;
                let wait = Duration::seconds(5 + rng.below(90) as i64);
                if channel == Channel::Voice {
                    let digit = rng.pick(&["1", "2"]).to_string();
                    self.append_event(
                        t,
                        id,
                        &NewEvent {
                            kind: "ivr_step".into(),
                            actor: "flow".into(),
                            data: json!({"node": "main_menu", "digits": digit}),
                            at: Some(start + Duration::seconds(3)),
                        },
                    )
                    .await?;
                }
                let step = |state, at| InteractionPatch {
                    state: Some(state),
                    at: Some(at),
                    ..Default::default()
                };
                self.update_interaction(
                    t,
                    id,
                    &step(InteractionState::Queued, start + Duration::seconds(4)),
                    "system",
                )
                .await?;
                if rng.below(10) == 0 {
                    self.update_interaction(
                        t,
                        id,
                        &step(InteractionState::Abandoned, start + wait),
                        "system",
                    )
                    .await?;
                    continue;
                }
                let answered = start + wait;
                self.update_interaction(
                    t,
                    id,
                    &InteractionPatch {
                        agent_id: Some(Some(agent)),
                        state: Some(InteractionState::Active),
                        at: Some(answered),
                        ..Default::default()
                    },
                    "system",
                )
                .await?;
                let talk = Duration::seconds(60 + rng.below(600) as i64);
                let disposition = *rng.pick(&dispositions);
                let notes = rng
                    .pick(&[
                        "Клиент проконсультирован.",
                        "Customer asked about fees; explained.",
                        "Оформлена заявка, ждёт звонка специалиста.",
                        "Жалоба передана в отдел качества.",
                    ])
                    .to_string();
                self.update_interaction(
                    t,
                    id,
                    &InteractionPatch {
                        state: Some(InteractionState::WrapUp),
                        at: Some(answered + talk),
                        recording_ref: (channel == Channel::Voice)
                            .then(|| format!("demo/{id}.wav")),
                        ..Default::default()
                    },
                    "system",
                )
                .await?;
                self.update_interaction(
                    t,
                    id,
                    &InteractionPatch {
                        disposition_id: Some(Some(disposition)),
                        notes: Some(notes),
                        state: Some(InteractionState::Closed),
                        at: Some(answered + talk + Duration::seconds(20)),
                        ..Default::default()
                    },
                    "agent",
                )
                .await?;
            }
        }
        self.seed_demo_flow(t).await?;
        tracing::info!(
            tenant_id = t,
            customers = customers.len(),
            "demo data created"
        );
        Ok(DemoReport {
            tenant_id: t,
            created: true,
            users,
        })
    }
}

/// The demo's hotline flow (`crates/flow/flows/`, checked by that crate's tests).
pub const DEMO_FLOW: &str = include_str!("../../flow/flows/demo.yaml");
pub const DEMO_CALENDARS: &str = include_str!("../../flow/flows/calendars.yaml");
/// The hotline's number in the demo: dial it from an agent's phone, or route a trunk's DID to it.
pub const DEMO_FLOW_NUMBER: &str = "8800";

impl Store {
    /// The flow the demo's number leads to, its calendars and the card-order table it looks
    /// orders up in.
    async fn seed_demo_flow(&self, t: i64) -> Result<()> {
        self.set_calendars(t, DEMO_CALENDARS).await?;
        self.save_flow(t, "demo", DEMO_FLOW).await?;
        let orders = [
            (
                "123456",
                "карта готова, её можно забрать в отделении на Тверской",
            ),
            (
                "234567",
                "карта в пути, она будет в отделении через два дня",
            ),
            (
                "345678",
                "заявка на проверке, мы позвоним, когда карта будет готова",
            ),
        ];
        let rows: Vec<(String, serde_json::Value)> = orders
            .iter()
            .map(|(k, status)| (k.to_string(), json!({ "status_text": status })))
            .collect();
        self.put_lookup_rows(t, "orders", &rows).await?;
        self.create_number(t, DEMO_FLOW_NUMBER, "flow", "demo")
            .await?;
        Ok(())
    }
}

const CARDS_SCRIPT: &str = "# Карты\n\n1. Поприветствуйте: «Демо-банк, меня зовут …, чем могу помочь?»\n2. Проверьте клиента: **кодовое слово** и дата рождения.\n3. Если карта утеряна — **сразу заблокируйте** и предложите перевыпуск.\n\n---\n\n# Cards\n\n1. Greet: \"Demo Bank, this is …, how can I help?\"\n2. Verify: **code word** and date of birth.\n3. Lost card: **block it first**, then offer a replacement.\n";
const LOANS_SCRIPT: &str = "# Кредиты\n\n- Уточните номер договора (поле *contract* в карточке).\n- Досрочное погашение: сумма и дата; заявка — результат «Продажа».\n\n# Loans\n\n- Ask for the contract number (field *contract* on the card).\n- Early repayment: amount and date.\n";
