//! One thread that hashes every large body in flight, 16 at a time through `lanes.rs`.
//!
//! A stream hands its chunks over (shared `Bytes`, not copies) and goes on; the thread takes
//! whatever all streams have queued, cuts it into whole blocks (a block split across two chunks
//! is copied into a 64-byte buffer), and runs the kernel over up to 16 streams at once, each
//! call as many blocks as the shortest of them has in a row. A stream with nothing queued costs
//! nothing. A round that would go on with one stream alone leaves its blocks for the next round,
//! unless that stream is finishing (its digest is awaited) or holds too much; a stream alone
//! goes through the scalar code. Before a round the thread waits up to `GATHER_WAIT` for more
//! streams to have work, never when a digest is awaited. Measured on PUT 1 MiB c=16: ~3 streams
//! per kernel call (only a few bodies are still arriving at any moment; the rest are syncing).
//!
//! A stream queues at most `QUEUE_MAX` bytes; past that its `push` waits until the thread has
//! taken them, so a slow hasher slows the upload instead of buffering it.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{Blocks, lanes};

/// Bytes a stream may have queued and not yet taken by the thread.
const QUEUE_MAX: usize = 1024 * 1024;
/// A round starts when this many of the open streams (or all) have work ...
const GATHER_LANES: usize = 8;
/// ... or when its first work has waited this long.
const GATHER_WAIT: Duration = Duration::from_micros(500);

struct Lane {
    blocks: Blocks,
    /// Whole blocks taken but not hashed yet: left by a round for the next one, so that a stream
    /// with more data than the others does not go on alone (see `hash_round`).
    held: VecDeque<Bytes>,
    queue: Vec<Bytes>,
    queued: usize,
    /// Set after the stream's last push: the thread answers with the digest and drops the lane.
    finish: Option<tokio::sync::oneshot::Sender<[u8; 16]>>,
    /// Wakes a stream waiting for room in its queue.
    room: Arc<tokio::sync::Notify>,
}

#[derive(Default)]
struct Inner {
    lanes: HashMap<u64, Lane>,
    next_id: u64,
    /// The thread waits on the condvar; a push wakes it only then.
    idle: bool,
}

pub struct Hub {
    inner: Mutex<Inner>,
    work: Condvar,
}

/// What the thread took from one stream for one round.
struct Job {
    id: u64,
    blocks: Blocks,
    runs: VecDeque<Bytes>,
    /// Hash everything now: the stream waits for its digest, or it holds too much.
    drain: bool,
    finish: Option<tokio::sync::oneshot::Sender<[u8; 16]>>,
}

impl Hub {
    /// The process's hub, its thread started on first use; `None` if the thread cannot start.
    pub fn global() -> Option<&'static Hub> {
        static HUB: OnceLock<Option<&'static Hub>> = OnceLock::new();
        *HUB.get_or_init(|| {
            let hub: &'static Hub =
                Box::leak(Box::new(Hub { inner: Mutex::new(Inner::default()), work: Condvar::new() }));
            match std::thread::Builder::new().name("s3-md5".into()).spawn(move || hub.run()) {
                Ok(_) => Some(hub),
                Err(e) => {
                    tracing::warn!(error = %e, "could not start the MD5 thread; hashing inline");
                    None
                }
            }
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a stream that has hashed `blocks` so far.
    pub fn open(&'static self, blocks: Blocks) -> Stream {
        let mut g = self.lock();
        let id = g.next_id;
        g.next_id += 1;
        let room = Arc::new(tokio::sync::Notify::new());
        g.lanes.insert(
            id,
            Lane { blocks, held: VecDeque::new(), queue: Vec::new(), queued: 0, finish: None, room: room.clone() },
        );
        Stream { hub: self, id, room, finished: false }
    }

    fn run(&self) {
        let mut g = self.lock();
        // When the first work of a round was seen while other bodies were still arriving.
        let mut gathering: Option<Instant> = None;
        loop {
            let ready = g.lanes.values().filter(|l| !l.queue.is_empty() || l.finish.is_some()).count();
            if ready == 0 {
                g.idle = true;
                g = self.work.wait(g).unwrap_or_else(|p| p.into_inner());
                g.idle = false;
                continue;
            }
            // A round of few lanes costs nearly what one of 16 does: wait briefly for the other
            // open bodies' next batches, unless one is waiting for its digest or a queue is full.
            let urgent = g.lanes.values().any(|l| l.finish.is_some() || l.queued >= QUEUE_MAX);
            if !urgent && ready < g.lanes.len().min(GATHER_LANES) {
                let since = *gathering.get_or_insert_with(Instant::now);
                if let Some(left) = GATHER_WAIT.checked_sub(since.elapsed()) {
                    g.idle = true;
                    g = self.work.wait_timeout(g, left).unwrap_or_else(|p| p.into_inner()).0;
                    g.idle = false;
                    continue;
                }
            }
            gathering = None;
            let mut jobs = Vec::with_capacity(ready);
            for (&id, lane) in g.lanes.iter_mut() {
                if lane.queue.is_empty() && lane.finish.is_none() {
                    continue;
                }
                if lane.queued >= QUEUE_MAX {
                    lane.room.notify_one();
                }
                let held: usize = lane.held.iter().map(Bytes::len).sum();
                let drain = lane.finish.is_some() || held + lane.queued >= QUEUE_MAX;
                lane.queued = 0;
                let mut blocks = lane.blocks.clone();
                let mut runs = std::mem::take(&mut lane.held);
                runs.extend(runs_of(&mut blocks, std::mem::take(&mut lane.queue)));
                jobs.push(Job { id, blocks, runs, drain, finish: lane.finish.take() });
            }
            drop(g);
            hash_round(&mut jobs);
            g = self.lock();
            for job in jobs {
                match job.finish {
                    Some(tx) => {
                        g.lanes.remove(&job.id);
                        let _ = tx.send(job.blocks.digest());
                    }
                    None => {
                        if let Some(lane) = g.lanes.get_mut(&job.id) {
                            lane.blocks = job.blocks;
                            lane.held = job.runs;
                        }
                    }
                }
            }
        }
    }
}

/// Cuts `queue` into runs of whole blocks, carrying a partial block across chunks and keeping
/// what is left after the last whole block in `blocks.tail`.
fn runs_of(blocks: &mut Blocks, queue: Vec<Bytes>) -> Vec<Bytes> {
    let mut runs = Vec::new();
    for chunk in queue {
        let (carried, whole) = blocks.cut(&chunk);
        if let Some(block) = carried {
            runs.push(Bytes::copy_from_slice(&block));
        }
        if !whole.is_empty() {
            runs.push(chunk.slice(whole));
        }
    }
    runs
}

/// Hashes the jobs' runs, up to `LANES` jobs per kernel call, each call as many bytes as the
/// shortest front run of its members. A round stops when one stream is left that need not be
/// drained: hashing it alone would cost nearly what 16 cost; next round it has company.
fn hash_round(jobs: &mut [Job]) {
    loop {
        let mut members: Vec<usize> = Vec::with_capacity(lanes::LANES);
        let mut n = usize::MAX;
        for (i, j) in jobs.iter().enumerate() {
            if let Some(run) = j.runs.front() {
                n = n.min(run.len());
                members.push(i);
                if members.len() == lanes::LANES {
                    break;
                }
            }
        }
        match members[..] {
            [] => return,
            [only] if !jobs[only].drain => return,
            _ => {}
        }
        let mut states: Vec<&mut [u32; 4]> = Vec::with_capacity(members.len());
        let mut inputs: Vec<&[u8]> = Vec::with_capacity(members.len());
        let mut next = members.iter().copied().peekable();
        for (i, job) in jobs.iter_mut().enumerate() {
            if next.peek() == Some(&i) {
                next.next();
                let run = job.runs.front().map_or(&[][..], |r| &r[..n]);
                states.push(&mut job.blocks.state);
                inputs.push(run);
            }
        }
        lanes::compress(&mut states, &inputs);
        for &i in &members {
            let runs = &mut jobs[i].runs;
            if runs.front().is_some_and(|r| r.len() == n) {
                runs.pop_front();
            } else if let Some(r) = runs.front_mut() {
                *r = r.slice(n..);
            }
        }
    }
}

/// A stream registered with the hub. Dropped unfinished (a failed upload), it leaves the hub.
pub struct Stream {
    hub: &'static Hub,
    id: u64,
    room: Arc<tokio::sync::Notify>,
    finished: bool,
}

impl Stream {
    /// Queues `chunks`; waits while the stream already has `QUEUE_MAX` bytes queued.
    pub async fn push(&mut self, chunks: &mut Vec<Bytes>) {
        loop {
            {
                let mut g = self.hub.lock();
                let idle = g.idle;
                let Some(lane) = g.lanes.get_mut(&self.id) else { return };
                if lane.queued < QUEUE_MAX {
                    lane.queued += chunks.iter().map(Bytes::len).sum::<usize>();
                    lane.queue.append(chunks);
                    if idle {
                        self.hub.work.notify_one();
                    }
                    return;
                }
            }
            // A notification sent after the unlock and before this await is kept as a permit.
            self.room.notified().await;
        }
    }

    /// The digest of everything pushed; `None` only if the hub's thread is gone.
    pub async fn finish(mut self) -> Option<[u8; 16]> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        {
            let mut g = self.hub.lock();
            let idle = g.idle;
            let lane = g.lanes.get_mut(&self.id)?;
            lane.finish = Some(tx);
            if idle {
                self.hub.work.notify_one();
            }
        }
        self.finished = true;
        rx.await.ok()
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        if !self.finished {
            self.hub.lock().lanes.remove(&self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_carry_partial_blocks_across_chunks() {
        let data: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
        let mut b = Blocks::default();
        let queue = vec![
            Bytes::copy_from_slice(&data[..10]),
            Bytes::copy_from_slice(&data[10..200]),
            Bytes::copy_from_slice(&data[200..300]),
        ];
        let runs = runs_of(&mut b, queue);
        let joined: Vec<u8> = runs.iter().flat_map(|r| r.to_vec()).collect();
        assert_eq!(joined, data[..256]);
        assert!(runs.iter().all(|r| r.len().is_multiple_of(64)));
        assert_eq!((b.len, b.tail_len), (300, 44));
        assert_eq!(&b.tail[..44], &data[256..]);
    }
}
