//! A server's open connections and their topics ([`Registry`]): `broadcast` to all,
//! `publish` to a topic's subscribers, each message framed once and queued on every
//! connection it goes to, then sent by [`Registry::flush`] once per turn of the event loop
//! (a turn's messages leave in one `sendmsg` per connection). A connection over its
//! `backpressureLimit` sends what its socket takes at once (a loop publishing many messages
//! in one turn does not wait for the turn's end), and is skipped if still over (its peer is
//! not reading): it never holds back the others, and what waits for it stays bounded.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use abio_core::ws::code;
use bytes::Bytes;
use napi::Env;

use super::conn::Ws;
use super::{frames_of, Compress};
use crate::bytes::WriteList;
use crate::net::lock;

/// The connections a server has open, for `broadcast`, `publish` and `close`.
#[derive(Default)]
pub(crate) struct Registry {
    open: Mutex<HashMap<u32, Arc<Ws>>>,
    /// Each topic's subscribers, by id.
    topics: Mutex<HashMap<String, HashMap<u32, Arc<Ws>>>>,
    /// Connections with frames queued by `broadcast` or `publish` and not sent yet.
    dirty: Mutex<Vec<Arc<Ws>>>,
}

impl Registry {
    /// A connection opened.
    pub(super) fn add(&self, ws: &Arc<Ws>) {
        lock(&self.open).insert(ws.id, ws.clone());
    }

    /// A connection is gone: it leaves its topics too.
    pub(super) fn remove(&self, ws: &Ws) {
        lock(&self.open).remove(&ws.id);
        let mine = std::mem::take(&mut *lock(&ws.topics));
        if mine.is_empty() {
            return;
        }
        let mut topics = lock(&self.topics);
        for t in mine {
            if let Some(subs) = topics.get_mut(&t) {
                subs.remove(&ws.id);
                if subs.is_empty() {
                    topics.remove(&t);
                }
            }
        }
    }

    fn all(&self) -> Vec<Arc<Ws>> {
        lock(&self.open).values().cloned().collect()
    }

    /// Closes every connection with 1001 (the server is going away).
    pub(crate) fn going_away(&self) {
        for ws in self.all() {
            ws.close(code::GOING_AWAY, "server closing");
        }
    }

    /// Subscribes `ws` to `topic`; false when it was already (or is gone).
    pub(super) fn subscribe(&self, ws: &Arc<Ws>, topic: &str) -> bool {
        if ws.over.load(Ordering::Acquire) || !lock(&ws.topics).insert(topic.to_string()) {
            return false;
        }
        let mut topics = lock(&self.topics);
        topics
            .entry(topic.to_string())
            .or_default()
            .insert(ws.id, ws.clone());
        true
    }

    /// Unsubscribes `ws` from `topic`; false when it was not subscribed.
    pub(super) fn unsubscribe(&self, ws: &Ws, topic: &str) -> bool {
        if !lock(&ws.topics).remove(topic) {
            return false;
        }
        let mut topics = lock(&self.topics);
        if let Some(subs) = topics.get_mut(topic) {
            subs.remove(&ws.id);
            if subs.is_empty() {
                topics.remove(topic);
            }
        }
        true
    }

    /// How many connections are subscribed to `topic`.
    pub(crate) fn subscribers(&self, topic: &str) -> u32 {
        lock(&self.topics).get(topic).map_or(0, |s| s.len() as u32)
    }

    /// Queues `list`'s message on every open connection, framed once (sent by
    /// [`flush`](Self::flush)); returns how many it was queued on.
    pub(crate) fn broadcast(&self, list: &WriteList) -> napi::Result<u32> {
        let all = self.all();
        let Some(first) = all.first() else {
            return Ok(0);
        };
        self.fan_out(all.iter(), first, list)
    }

    /// Queues `list`'s message on every subscriber of `topic` but `except`, framed once (sent
    /// by [`flush`](Self::flush)); returns how many it was queued on.
    pub(crate) fn publish(
        &self,
        topic: &str,
        list: &WriteList,
        except: Option<u32>,
    ) -> napi::Result<u32> {
        let topics = lock(&self.topics);
        let Some(subs) = topics.get(topic) else {
            return Ok(0);
        };
        let Some(first) = subs.values().next() else {
            return Ok(0);
        };
        let to = subs.values().filter(|ws| Some(ws.id) != except);
        self.fan_out(to, first, list)
    }

    /// Queues `list`'s message on each of `to` that is open and under its limit: framed once
    /// (server frames are unmasked: one framing serves every connection), but compressed for
    /// each connection that agreed to permessage-deflate (its own compression context).
    fn fan_out<'a>(
        &self,
        to: impl Iterator<Item = &'a Arc<Ws>>,
        first: &Ws,
        list: &WriteList,
    ) -> napi::Result<u32> {
        let mut shared: Option<Vec<Bytes>> = None;
        let mut n = 0;
        let mut dirty = lock(&self.dirty);
        for ws in to {
            if ws.sent_close.load(Ordering::Acquire) || !ws.has_room() {
                continue;
            }
            let pieces = if ws.deflate.is_some() {
                frames_of(ws, list, Compress::Except(&[]))?
            } else {
                if shared.is_none() {
                    shared = Some(frames_of(first, list, Compress::Never)?);
                }
                shared.clone().unwrap_or_default()
            };
            if ws.queue(pieces) {
                n += 1;
                if !ws.dirty.swap(true, Ordering::AcqRel) {
                    dirty.push(ws.clone());
                }
            }
        }
        Ok(n)
    }

    /// Sends what `broadcast` and `publish` queued (lib/http.js calls it once per turn of the
    /// event loop).
    pub(crate) fn flush(&self, env: &Env) {
        let dirty = std::mem::take(&mut *lock(&self.dirty));
        for ws in dirty {
            ws.dirty.store(false, Ordering::Release);
            ws.kick(Some(env));
        }
    }
}

/// The topics of one connection (for `isSubscribed`, and to leave them when it is gone).
pub(super) type Topics = Mutex<HashSet<String>>;
