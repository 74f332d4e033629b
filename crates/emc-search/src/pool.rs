//! The worker pool of a measurement: (configuration, seed) tasks taken in order by a fixed
//! number of threads, results returned in (configuration, seed) order, the first error
//! stopping every worker.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::error::{Result, SearchError};

/// Runs `work(config, seed)` for every task on `jobs` worker threads (tasks taken in
/// order), returning the results sorted by (config, seed). The first error stops every
/// worker and is returned, naming the configuration through `describe`.
pub(crate) fn run_pool<R: Send>(
    tasks: &[(usize, u64)],
    jobs: usize,
    work: &(dyn Fn(usize, u64) -> Result<R> + Sync),
    describe: &(dyn Fn(usize) -> String + Sync),
) -> Result<Vec<(usize, u64, R)>> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, u64, R)>> = Mutex::new(vec![]);
    let first_error: Mutex<Option<SearchError>> = Mutex::new(None);
    let jobs = jobs.clamp(1, tasks.len().max(1));
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                let Some(&(i, seed)) = tasks.get(k) else {
                    break;
                };
                if first_error.lock().map(|e| e.is_some()).unwrap_or(true) {
                    break;
                }
                match work(i, seed) {
                    Ok(r) => results.lock().expect("results lock").push((i, seed, r)),
                    Err(e) => {
                        let e = SearchError::InConfig {
                            config: describe(i),
                            source: Box::new(e),
                        };
                        let mut slot = first_error.lock().expect("error lock");
                        slot.get_or_insert(e);
                    }
                }
            });
        }
    });
    if let Some(e) = first_error.into_inner().ok().flatten() {
        return Err(e);
    }
    let mut results = results.into_inner().unwrap_or_default();
    results.sort_by_key(|r| (r.0, r.1));
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn describe(i: usize) -> String {
        format!("config {i}")
    }

    #[test]
    fn every_task_runs_once_and_results_come_in_config_seed_order() {
        let tasks = [(1, 5), (0, 2), (1, 0), (0, 9), (2, 1), (0, 0)];
        let ran = Mutex::new(vec![]);
        let work = |i: usize, seed: u64| -> Result<u64> {
            ran.lock().unwrap().push((i, seed));
            Ok(seed * 10 + i as u64)
        };
        let out = run_pool(&tasks, 3, &work, &describe).unwrap();
        let keys: Vec<(usize, u64)> = out.iter().map(|r| (r.0, r.1)).collect();
        assert_eq!(keys, [(0, 0), (0, 2), (0, 9), (1, 0), (1, 5), (2, 1)]);
        assert!(out.iter().all(|r| r.2 == r.1 * 10 + r.0 as u64));
        let mut ran = ran.into_inner().unwrap();
        ran.sort_unstable();
        assert_eq!(ran, keys);
    }

    #[test]
    fn the_first_error_stops_the_pool_and_names_its_configuration() {
        let tasks = [(0, 0), (1, 1), (2, 2), (3, 3)];
        let ran = Mutex::new(vec![]);
        let work = |i: usize, _seed: u64| -> Result<()> {
            ran.lock().unwrap().push(i);
            if i == 1 {
                return Err(SearchError::Config {
                    field: "seeds".into(),
                    message: "boom".into(),
                });
            }
            Ok(())
        };
        // One worker takes the tasks in order: none is started after the failure.
        let err = run_pool(&tasks, 1, &work, &describe).unwrap_err();
        assert_eq!(
            err.to_string(),
            "config 1: measurement config field `seeds`: boom"
        );
        assert_eq!(ran.into_inner().unwrap(), [0, 1]);
    }
}
