//! The reader task of a socket: completes the reads the JS thread could not, as bytes
//! arrive, and watches for the peer's end of the stream (or a reset) while nobody reads.

use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use abio_core::error::errno_of;
use abio_core::net::Step;
use tokio::io::Interest;

use super::conn::Conn;
use super::would_block;
use crate::bytes::OutBytes;
use crate::net::{lock, ready, Io};

/// The reader task: completes queued reads as bytes arrive, in order; with none queued,
/// watches for the peer's end of the stream without taking any bytes. Returns when bytes
/// wait with nobody asking (the next read takes them on the JS thread), at the end of
/// the stream, on an error, or when the socket closes.
pub(super) async fn reader(conn: Arc<Conn>, io: Io) {
    loop {
        let mut done = Vec::new();
        let readable = io.ready(Interest::READABLE);
        let waited = ready(readable, &conn.closing, &conn.closed, None).await;
        // Whether the socket has nothing more for us (bytes wait unasked, or it ended).
        let mut idle = false;
        let gone = waited.is_err();
        if let Ok(mut guard) = waited {
            let polled = guard.try_io(|| {
                let mut r = lock(&conn.r);
                loop {
                    if conn.user_closed.load(Ordering::Acquire) {
                        // `close()` rejects what is queued; the end of stream its shutdown
                        // makes is not the peer's.
                        return Ok(());
                    }
                    let Some(&(want, _)) = r.ops.front() else {
                        let ended = conn.fin_sent.load(Ordering::Acquire);
                        return match io.peek_end(ended) {
                            Ok(true) => {
                                r.reader.set_ended();
                                Ok(())
                            }
                            // Bytes wait: the next read takes them.
                            Ok(false) => Ok(()),
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Err(e),
                            // Reset: the peek took the error the kernel reports once. Kept
                            // for the reads and writes still to come; the socket finishes.
                            Err(e) => {
                                let errno = errno_of(&e).unwrap_or(libc::ECONNRESET);
                                lock(&conn.failed_with).get_or_insert(errno);
                                Ok(())
                            }
                        };
                    };
                    let ended = conn.fin_sent.load(Ordering::Acquire);
                    let step = r
                        .reader
                        .poll(want, &mut |b| io.recv(b, ended), &|| io.available());
                    match step {
                        Step::Done(result) => {
                            let (_, d) = r.ops.pop_front().expect("front exists");
                            done.push((d, result));
                        }
                        // Readiness is cleared by `try_io`: wait again.
                        Step::Blocked => return Err(would_block()),
                    }
                }
            });
            idle = polled.is_ok();
        }
        let (stop, over) = {
            let mut r = lock(&conn.r);
            let over = r.reader.ended() || r.reader.failed() || conn.reset();
            let stop = gone || (r.ops.is_empty() && (idle || over));
            if stop {
                r.task = false;
            }
            (stop, over)
        };
        if done.is_empty() && !stop {
            continue;
        }
        if done.is_empty() && stop && idle && !gone && !over {
            // Bytes wait with nobody asking: the next read takes them; nothing to tell JS.
            return;
        }
        let me = conn.clone();
        conn.js.post(move |env| {
            for (d, result) in done {
                d.settle(env, result.map(|v| v.map(OutBytes)).map_err(Into::into));
            }
            if stop {
                // Reads queued when the socket closed or finished meanwhile.
                me.drain_reads(env);
            }
            me.after_read(env);
        });
        if stop {
            return;
        }
    }
}
