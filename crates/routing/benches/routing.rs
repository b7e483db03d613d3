//! Routing benchmark: 10,000 agents, 1,000 queues, 100,000 waiting contacts with mixed skills.
//!
//! `cargo bench -p hotline-routing` (options after `--`: `--agents N --queues N --waiting N
//! --rounds N --seed N`). Measures, on one thread:
//! - time per routing decision when an agent frees up (the contact ends, the engine picks the
//!   first contact in the global order the agent may take, and offers it);
//! - time per arrival (the engine looks for a free agent, finds none, files the contact);
//! - assignments per second over the whole loop (end, decision, offer, accept, new arrival);
//! - resident memory of the loaded engine.
//!
//! A harness of our own rather than criterion: the goal is a p99 per decision, which needs
//! every decision timed, not a mean over batches.

#![allow(clippy::print_stdout, reason = "a benchmark prints its figures")]

use hotline_routing::engine::Presence;
use hotline_routing::{
    AgentConfig, AgentId, Channel, Command, ContactId, ContactSpec, Engine, EngineConfig,
    QueueConfig, QueueId, Requirement, TenantId, Time, WideningStep,
};
use std::time::{Duration, Instant};

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
        self.next() % n
    }
}

const PRODUCTS: [&str; 10] = [
    "cards",
    "loans",
    "deposits",
    "mortgage",
    "insurance",
    "broker",
    "business",
    "mobile",
    "internet",
    "tv",
];
const LANGUAGES: [&str; 4] = ["ru", "en", "kk", "de"];

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn report(name: &str, mut v: Vec<Duration>) {
    v.sort_unstable();
    let mean = v.iter().sum::<Duration>() / v.len() as u32;
    println!(
        "{name}: n={} mean={:.2}µs p50={:.2}µs p99={:.2}µs p99.9={:.2}µs max={:.2}µs",
        v.len(),
        mean.as_secs_f64() * 1e6,
        percentile(&v, 0.5).as_secs_f64() * 1e6,
        percentile(&v, 0.99).as_secs_f64() * 1e6,
        percentile(&v, 0.999).as_secs_f64() * 1e6,
        v[v.len() - 1].as_secs_f64() * 1e6,
    );
}

fn spec(rng: &mut Rng, id: i64, queues: u64) -> ContactSpec {
    let mut s = ContactSpec::new(
        ContactId(id),
        QueueId(rng.below(queues) as i64 + 1),
        Channel::Voice,
    );
    s.priority = rng.below(3) as i32;
    match rng.below(10) {
        0..=3 => {
            s.requirements = vec![Requirement::new(
                LANGUAGES[rng.below(4) as usize],
                1 + rng.below(3) as u8,
            )]
        }
        4 => s.requirements = vec![Requirement::new("vip", 1 + rng.below(2) as u8)],
        _ => {}
    }
    s
}

fn main() {
    let agents = arg("--agents", 10_000);
    let queues = arg("--queues", 1_000);
    let waiting = arg("--waiting", 100_000);
    let rounds = arg("--rounds", 200_000);
    let mut rng = Rng(arg("--seed", 42));
    let rss_start = rss_kib();
    let mut now = Time::from_millis(1_800_000_000_000);
    let mut engine = Engine::new(EngineConfig::default()).expect("default config is valid");
    for q in 1..=queues {
        let mut cfg = QueueConfig::new(QueueId(q as i64), TenantId(1));
        cfg.base_priority = rng.below(3) as i32;
        cfg.aging_per_minute = rng.below(3) as i32;
        cfg.requirements = vec![Requirement::new(
            PRODUCTS[(q % 10) as usize],
            1 + rng.below(3) as u8,
        )];
        if q % 2 == 0 {
            cfg.widening = vec![WideningStep {
                after: Duration::from_secs(30),
                max_proficiency: 1,
                drop: vec![],
            }];
        }
        cfg.wrap_up = Duration::ZERO;
        cfg.offer_timeout = Duration::from_secs(3600);
        engine.set_queue(now, cfg).expect("valid queue");
    }
    for a in 1..=agents {
        let mut cfg = AgentConfig::new(AgentId(a as i64), TenantId(1));
        let serves = 3 + rng.below(3);
        for _ in 0..serves {
            let q = rng.below(queues) + 1;
            cfg.queues.push(QueueId(q as i64));
            cfg.skills.push((
                PRODUCTS[(q % 10) as usize].to_string(),
                1 + rng.below(5) as u8,
            ));
        }
        cfg.skills.push((
            LANGUAGES[rng.below(4) as usize].to_string(),
            1 + rng.below(5) as u8,
        ));
        cfg.skills.push(("ru".to_string(), 3 + rng.below(3) as u8));
        if rng.below(5) == 0 {
            cfg.skills.push(("vip".to_string(), 1 + rng.below(2) as u8));
        }
        engine.set_agent(now, cfg).expect("valid agent");
    }
    let mut next_id: i64 = 0;
    let drain = |e: &mut Engine| {
        let mut offers = Vec::new();
        while let Some(c) = e.poll_command() {
            if let Command::Offer { contact, agent, .. } = c {
                offers.push((contact, agent));
            }
        }
        while e.poll_event().is_some() {}
        offers
    };
    // Fill the queues while every agent is logged out.
    let t = Instant::now();
    for _ in 0..waiting {
        next_id += 1;
        engine
            .handle_contact(now, spec(&mut rng, next_id, queues))
            .expect("valid contact");
    }
    drain(&mut engine);
    let fill = t.elapsed();
    now = now.plus(Duration::from_secs(45)); // half the queues have widened their needs
    engine.handle_timeout(now);
    drain(&mut engine);
    println!(
        "loaded: {agents} agents, {queues} queues, {} waiting contacts in {:.2}s",
        engine.contact_count(),
        fill.as_secs_f64()
    );
    // Every agent logs in: each takes the first contact in the global order they may take.
    let mut login = Vec::with_capacity(agents as usize);
    let mut serving: Vec<ContactId> = Vec::new();
    for a in 1..=agents {
        let t = Instant::now();
        engine
            .handle_presence(now, AgentId(a as i64), Presence::Available)
            .expect("known agent");
        login.push(t.elapsed());
        for (c, _) in drain(&mut engine) {
            engine.handle_offer_accepted(now, c).expect("offered");
            serving.push(c);
        }
    }
    drain(&mut engine);
    let rss_loaded = rss_kib();
    println!(
        "{} agents busy, {} contacts waiting",
        serving.len(),
        engine.contact_count() - serving.len()
    );
    // Steady state: a contact ends, its agent gets the next one, a new contact arrives.
    let mut decisions = Vec::with_capacity(rounds as usize);
    let mut arrivals = Vec::with_capacity(rounds as usize);
    let mut assigned = 0u64;
    let loop_start = Instant::now();
    for r in 0..rounds {
        if serving.is_empty() {
            break;
        }
        now = now.plus(Duration::from_millis(1));
        let i = (rng.below(serving.len() as u64)) as usize;
        let ended = serving.swap_remove(i);
        let t = Instant::now();
        engine.handle_contact_ended(now, ended).expect("serving");
        decisions.push(t.elapsed());
        for (c, _) in drain(&mut engine) {
            engine.handle_offer_accepted(now, c).expect("offered");
            serving.push(c);
            assigned += 1;
        }
        next_id += 1;
        let s = spec(&mut rng, next_id, queues);
        let t = Instant::now();
        engine.handle_contact(now, s).expect("valid contact");
        arrivals.push(t.elapsed());
        for (c, _) in drain(&mut engine) {
            engine.handle_offer_accepted(now, c).expect("offered");
            serving.push(c);
            assigned += 1;
        }
        if r % 1000 == 0 {
            engine.handle_timeout(now);
            for (c, _) in drain(&mut engine) {
                engine.handle_offer_accepted(now, c).expect("offered");
                serving.push(c);
                assigned += 1;
            }
        }
    }
    let elapsed = loop_start.elapsed();
    report("login (agent takes first contact)", login);
    report("decision (contact ends, agent gets next)", decisions);
    report("arrival (no agent free, contact filed)", arrivals);
    println!(
        "assignments: {assigned} in {:.3}s = {:.0}/s on one core (loop: end, decide, offer, accept, arrive)",
        elapsed.as_secs_f64(),
        assigned as f64 / elapsed.as_secs_f64()
    );
    if let (Some(a), Some(b)) = (rss_start, rss_loaded) {
        println!(
            "memory: {} MiB resident for the loaded engine ({} timer entries)",
            (b - a) / 1024,
            engine.timer_entries()
        );
    }
}
