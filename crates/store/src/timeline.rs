//! Group commit for the timeline. Many tasks append events one at a time (call legs, media
//! statistics, chat messages); giving each its own transaction caps the rate at a few thousand a
//! second (one commit, and on SQLite one hand-off to the driver's thread, per event). A single
//! writer task takes whatever appends are waiting, writes them with one multi-row INSERT per
//! tenant in one transaction, and answers each caller with its own event. A caller waits at most
//! one batch longer than it would alone; nothing is acknowledged before its commit.

use crate::interactions::APPEND_CHUNK;
use crate::{NewEvent, Result, Store};
use hotline_model::InteractionEvent;
use std::collections::BTreeMap;
use std::sync::Mutex;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

struct Pending {
    tenant_id: i64,
    interaction_id: i64,
    event: NewEvent,
    reply: oneshot::Sender<Result<InteractionEvent>>,
}

pub(crate) struct GroupCommit {
    queue: Mutex<Option<mpsc::Sender<Pending>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl GroupCommit {
    /// Starts the writer over `store` (a store without a group-commit queue of its own).
    pub(crate) fn start(store: Store) -> GroupCommit {
        let (tx, rx) = mpsc::channel(4 * APPEND_CHUNK);
        let writer = tokio::spawn(run(store, rx));
        GroupCommit {
            queue: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(writer)),
        }
    }

    /// Queues one append and waits for its commit; `None` when the writer has stopped.
    pub(crate) async fn append(
        &self,
        tenant_id: i64,
        interaction_id: i64,
        e: &NewEvent,
    ) -> Option<Result<InteractionEvent>> {
        let queue = self
            .queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()?;
        let (reply, answer) = oneshot::channel();
        // Stamp the time now, so the event's time is when it was appended, not when written.
        let mut event = e.clone();
        event.at.get_or_insert_with(time::OffsetDateTime::now_utc);
        let pending = Pending {
            tenant_id,
            interaction_id,
            event,
            reply,
        };
        queue.send(pending).await.ok()?;
        answer.await.ok()
    }

    /// Stops taking appends, lets the writer commit what it holds, and waits for it.
    pub(crate) async fn stop(&self) {
        self.queue.lock().unwrap_or_else(|p| p.into_inner()).take();
        let writer = self.writer.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(w) = writer {
            let _ = w.await;
        }
    }
}

async fn run(store: Store, mut rx: mpsc::Receiver<Pending>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < APPEND_CHUNK {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let mut by_tenant: BTreeMap<i64, Vec<Pending>> = BTreeMap::new();
        for p in batch {
            by_tenant.entry(p.tenant_id).or_default().push(p);
        }
        for (tenant_id, group) in by_tenant {
            write(&store, tenant_id, group).await;
        }
    }
}

async fn write(store: &Store, tenant_id: i64, mut group: Vec<Pending>) {
    if group.len() == 1 {
        // Alone: one autocommitted statement is cheaper than a transaction around it.
        let p = group.remove(0);
        let result = store
            .append_event_now(tenant_id, p.interaction_id, &p.event)
            .await;
        let _ = p.reply.send(result);
        return;
    }
    let events: Vec<(i64, NewEvent)> = group
        .iter()
        .map(|p| (p.interaction_id, p.event.clone()))
        .collect();
    match store.append_events(tenant_id, &events).await {
        Ok(ids) if ids.len() == group.len() => {
            for (p, id) in group.into_iter().zip(ids) {
                let at = p.event.at.unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
                let event = InteractionEvent {
                    id,
                    interaction_id: p.interaction_id,
                    at: crate::from_ms(crate::to_ms(at)),
                    kind: p.event.kind,
                    actor: p.event.actor.trim().to_string(),
                    data: p.event.data,
                };
                let _ = p.reply.send(Ok(event));
            }
        }
        // One bad append (an unknown interaction) must not fail its neighbours: write each
        // alone, so every caller gets its own answer.
        _ => {
            for p in group {
                let result = store
                    .append_event_now(tenant_id, p.interaction_id, &p.event)
                    .await;
                let _ = p.reply.send(result);
            }
        }
    }
}
