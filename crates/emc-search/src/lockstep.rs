//! Where the probes of concurrent searches are trained: each search thread hands its probe
//! to a [`ProbeTrainer`] and waits; a waiting thread with a free training slot takes every
//! waiting probe that can share its lockstep group ([`emc_train::lockstep_key`]) and trains
//! them together ([`emc_train::fit_lockstep`]), handing each result back the moment its run
//! is over. A probe that cannot go in lockstep, or finds no partner, is trained alone by
//! [`emc_train::fit`].
//!
//! Lockstep training reproduces each member's single-model training bit for bit, so how
//! probes happen to be grouped changes the speed, never a result.

use std::collections::{HashMap, HashSet};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use emc_models::{Built, InputShape, ModelSpec};
use emc_train::{fit, fit_lockstep, lockstep_key, FitReport, Member, TrainConfig, TrainData};

use crate::error::{Result, SearchError};

/// How long a thread with a free slot waits for the other searches to hand in their next
/// probes before it starts training without them.
const GATHER: Duration = Duration::from_millis(20);

/// One probe to train: a freshly built model and its training set.
pub(crate) struct Probe<'a> {
    /// Which configuration of the run it belongs to (for [`ProbeTrainer::grouped`]).
    pub(crate) config: usize,
    pub(crate) spec: ModelSpec,
    pub(crate) input: InputShape,
    /// The model's output classes (probes of one spec and input on datasets with different
    /// class counts never share a group).
    pub(crate) classes: usize,
    pub(crate) train: TrainConfig,
    pub(crate) member: Member<'a>,
}

impl Probe<'_> {
    /// Trains this probe alone.
    pub(crate) fn fit_alone(self) -> Result<(Built, FitReport)> {
        let Probe { train, member, .. } = self;
        let mut on_progress = member.on_progress;
        let report = fit(
            member.built.model.as_ref(),
            &member.built.trainable,
            TrainData {
                images: &member.images,
                labels: &member.labels,
            },
            &train,
            member.seed,
            on_progress
                .as_deref_mut()
                .map(|f| f as &mut dyn FnMut(&emc_train::Progress)),
        )?;
        Ok((member.built, report))
    }
}

struct Waiting<'a> {
    id: u64,
    key: Option<String>,
    probe: Probe<'a>,
}

#[derive(Default)]
struct State<'a> {
    next_id: u64,
    /// Groups training now.
    running: usize,
    /// Search threads that may still hand in probes.
    searchers: usize,
    /// Probes taken into a running group, not yet handed back.
    in_groups: HashSet<u64>,
    waiting: Vec<Waiting<'a>>,
    done: HashMap<u64, Result<(Built, FitReport)>>,
}

/// Trains the probes of concurrent searches, `slots` groups at a time, up to `width`
/// probes per group (see the module doc).
pub(crate) struct ProbeTrainer<'a> {
    slots: usize,
    width: usize,
    /// Per configuration: probes trained in lockstep groups of two or more.
    grouped: Vec<AtomicUsize>,
    state: Mutex<State<'a>>,
    changed: Condvar,
}

/// Registers a search thread for as long as it lives (see [`ProbeTrainer::searcher`]).
pub(crate) struct Searcher<'t, 'a>(&'t ProbeTrainer<'a>);

impl Drop for Searcher<'_, '_> {
    fn drop(&mut self) {
        let mut st = self.0.lock();
        st.searchers -= 1;
        drop(st);
        self.0.changed.notify_all();
    }
}

impl<'a> ProbeTrainer<'a> {
    /// `slots` groups train at once (one per core: each trains single-threaded), each of
    /// at most `width` probes (1: every probe alone), for probes of `configs`
    /// configurations.
    pub(crate) fn new(slots: usize, width: usize, configs: usize) -> Self {
        ProbeTrainer {
            slots: slots.max(1),
            width: width.max(1),
            grouped: (0..configs).map(|_| AtomicUsize::new(0)).collect(),
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        }
    }

    /// Probes of configuration `config` trained in lockstep groups of two or more so far.
    pub(crate) fn grouped(&self, config: usize) -> usize {
        self.grouped
            .get(config)
            .map_or(0, |g| g.load(Ordering::Relaxed))
    }

    fn lock(&self) -> MutexGuard<'_, State<'a>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers the calling search thread until the guard drops: a thread with a free
    /// slot waits (briefly) for every registered search to hand in its next probe.
    pub(crate) fn searcher(&self) -> Searcher<'_, 'a> {
        self.lock().searchers += 1;
        Searcher(self)
    }

    /// Trains `probe` (alone or in a lockstep group) and returns its model and report.
    pub(crate) fn train(&self, probe: Probe<'a>) -> Result<(Built, FitReport)> {
        let n = probe.member.labels.dim(0)?;
        // Lockstep kernels are CPU kernels: a GPU trains each probe alone.
        let key = if self.width > 1 && probe.member.images.device().is_cpu() {
            lockstep_key(&probe.spec, probe.input, probe.classes, &probe.train, n)
        } else {
            None
        };
        let submitted = Instant::now();
        let mut st = self.lock();
        let id = st.next_id;
        st.next_id += 1;
        st.waiting.push(Waiting { id, key, probe });
        self.changed.notify_all();
        loop {
            if let Some(result) = st.done.remove(&id) {
                return result;
            }
            let mine = st.waiting.iter().position(|w| w.id == id);
            let Some(mine) = mine else {
                // Taken into a group that another thread trains.
                st = self.changed.wait(st).unwrap_or_else(|e| e.into_inner());
                continue;
            };
            if st.running >= self.slots {
                st = self.changed.wait(st).unwrap_or_else(|e| e.into_inner());
                continue;
            }
            // A slot is free: wait for the other searches' next probes (up to GATHER), as
            // long as a partner may still come.
            let others_busy = st
                .searchers
                .saturating_sub(st.waiting.len() + st.in_groups.len());
            let elapsed = submitted.elapsed();
            if st.waiting[mine].key.is_some() && others_busy > 0 && elapsed < GATHER {
                let (guard, _) = self
                    .changed
                    .wait_timeout(st, GATHER - elapsed)
                    .unwrap_or_else(|e| e.into_inner());
                st = guard;
                continue;
            }
            let group = self.take_group(&mut st, mine);
            let ids: Vec<u64> = group.iter().map(|w| w.id).collect();
            st.running += 1;
            st.in_groups.extend(&ids);
            drop(st);
            // A failed group (or a panic) must not leave its threads waiting forever: each
            // probe not handed back yet gets the failure as its error.
            let failure = match catch_unwind(AssertUnwindSafe(|| self.run_group(group))) {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(format!("lockstep training failed: {e}")),
                Err(_) => Some("training panicked (a bug: please report it)".to_string()),
            };
            st = self.lock();
            st.running -= 1;
            if let Some(message) = failure {
                for id in ids {
                    if st.in_groups.remove(&id) {
                        let e = candle_core::Error::Msg(message.clone());
                        st.done.insert(id, Err(SearchError::Tensor(e)));
                    }
                }
            }
            self.changed.notify_all();
        }
    }

    /// The waiting probe at `mine` and, when it has a lockstep key, up to `width - 1` more
    /// waiting probes with the same key, oldest first.
    fn take_group(&self, st: &mut State<'a>, mine: usize) -> Vec<Waiting<'a>> {
        let lead = st.waiting.remove(mine);
        let mut group = vec![];
        if lead.key.is_some() {
            let mut i = 0;
            while i < st.waiting.len() && group.len() + 1 < self.width {
                if st.waiting[i].key == lead.key {
                    group.push(st.waiting.remove(i));
                } else {
                    i += 1;
                }
            }
        }
        group.insert(0, lead);
        group
    }

    /// Hands a result back to the thread waiting for it.
    fn deliver(&self, id: u64, result: Result<(Built, FitReport)>) {
        let mut st = self.lock();
        st.in_groups.remove(&id);
        st.done.insert(id, result);
        drop(st);
        self.changed.notify_all();
    }

    /// Trains `group` and hands each result back; a lockstep failure is returned for the
    /// caller to hand to the probes not handed back yet.
    fn run_group(&self, mut group: Vec<Waiting<'a>>) -> emc_train::Result<()> {
        if group.len() == 1 {
            let w = group.remove(0);
            self.deliver(w.id, w.probe.fit_alone());
            return Ok(());
        }
        for w in &group {
            if let Some(count) = self.grouped.get(w.probe.config) {
                count.fetch_add(1, Ordering::Relaxed);
            }
        }
        let ids: Vec<u64> = group.iter().map(|w| w.id).collect();
        let (spec, input, classes, train) = {
            let p = &group[0].probe;
            (p.spec.clone(), p.input, p.classes, p.train.clone())
        };
        let members: Vec<Member<'a>> = group.into_iter().map(|w| w.probe.member).collect();
        fit_lockstep(
            &spec,
            input,
            classes,
            &train,
            members,
            &mut |k, built, report| self.deliver(ids[k], Ok((built, report))),
        )
    }
}
