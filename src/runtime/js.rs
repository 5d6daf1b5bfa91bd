//! The way back to a JS thread and what belongs to its environment: [`Js::post`] (one
//! thread-safe function per environment), [`Js::spawn`] (the environment's runtime tasks,
//! aborted and waited for when it is torn down), [`KeepAlive`] (holding the event loop) and
//! [`Teardown`] (work to do if the environment goes away first).

use std::cell::RefCell;
use std::ffi::c_void;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use napi::{sys, Env};

use super::net;
use crate::error::guard;

/// Work for the JS thread, posted from any thread.
type Posted = Box<dyn FnOnce(&Env) + Send>;

/// A raw thread-safe function; `None` once Node finalized it (its environment is gone).
struct Tsfn(RwLock<Option<usize>>);

impl Tsfn {
    fn raw(&self) -> Option<sys::napi_threadsafe_function> {
        let raw = *self.0.read().unwrap_or_else(|e| e.into_inner());
        raw.map(|r| r as sys::napi_threadsafe_function)
    }
}

/// One JS environment's way back ([`Js::post`]) and its tasks on the runtime ([`Js::spawn`]).
struct PerEnvShared {
    tsfn: Tsfn,
    tasks: Tasks,
}

/// The way back to one JS thread: [`Js::post`] runs a closure there, from any thread; and
/// the environment's tasks on the runtime, stopped when it is torn down ([`Js::spawn`]).
#[derive(Clone)]
pub struct Js(Arc<PerEnvShared>);

/// The runtime tasks of one JS environment: every task that may read or write memory of that
/// environment (held request and response bodies, queued sends) runs as one of them, so the
/// environment's teardown (a worker terminated, the main thread exiting) can stop them all
/// before it returns, and so before the isolate frees that memory.
#[derive(Default)]
struct Tasks {
    set: std::sync::Mutex<TaskSet>,
    /// Signalled when the last task of a stopped set is gone.
    emptied: std::sync::Condvar,
}

#[derive(Default)]
struct TaskSet {
    next: u64,
    live: std::collections::HashMap<u64, tokio::task::AbortHandle>,
    /// The environment is being torn down: no task starts any more.
    stopped: bool,
}

/// How long a teardown waits for its environment's tasks to stop. Aborted tasks stop at their
/// next await (they never block a thread), so this is only a guard against a bug hanging a
/// worker's exit forever.
const TEARDOWN_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Lives inside a task's future: dropped when the task completes or is aborted (its future
/// dropped), which takes the task off its environment's list.
struct Member {
    env: Arc<PerEnvShared>,
    id: u64,
}

impl Drop for Member {
    fn drop(&mut self) {
        let tasks = &self.env.tasks;
        let mut set = tasks.set.lock().unwrap_or_else(|e| e.into_inner());
        set.live.remove(&self.id);
        if set.stopped && set.live.is_empty() {
            tasks.emptied.notify_all();
        }
    }
}

unsafe extern "C" fn stop_tasks(arg: *mut c_void) {
    // SAFETY: `arg` is the `Arc<PerEnvShared>` leaked for this hook in `Js::of`; the hook runs
    // once, at the environment's teardown, and is never removed.
    let shared = unsafe { Arc::from_raw(arg.cast::<PerEnvShared>()) };
    let tasks = &shared.tasks;
    let mut set = tasks.set.lock().unwrap_or_else(|e| e.into_inner());
    set.stopped = true;
    for task in set.live.values() {
        task.abort();
    }
    // An aborted task's future is dropped by the runtime thread that next looks at it (at
    // once if it is running now, after its current poll): only then is the memory it holds
    // out of reach.
    let (set, waited) = tasks
        .emptied
        .wait_timeout_while(set, TEARDOWN_WAIT, |s| !s.live.is_empty())
        .unwrap_or_else(|e| e.into_inner());
    if waited.timed_out() {
        eprintln!(
            "abio: {} task(s) did not stop at the environment's teardown",
            set.live.len()
        );
    }
}

struct PerEnv {
    env: sys::napi_env,
    js: Js,
    holds: usize,
}

thread_local! {
    static PER_ENV: RefCell<Option<PerEnv>> = const { RefCell::new(None) };
}

unsafe extern "C" fn run_call(
    env: sys::napi_env,
    _callback: sys::napi_value,
    _context: *mut c_void,
    data: *mut c_void,
) {
    // SAFETY: `data` is the `Box<Posted>` leaked by `post`, handed to us exactly once.
    let call = unsafe { Box::from_raw(data.cast::<Posted>()) };
    if env.is_null() {
        // The environment is being torn down: drop the work (napi-rs values release
        // themselves safely then), run nothing.
        return;
    }
    let env = Env::from_raw(env);
    if let Err(e) = guard(move || {
        call(&env);
        Ok(())
    }) {
        eprintln!("abio: {e:?}");
    }
}

/// `hasRef()` of the thread-safe function's async resource: whether this environment's
/// function holds the event loop now (some [`KeepAlive`] is set). Tools that list what keeps
/// a process alive through `async_hooks` (jest's `--detectOpenHandles`, why-is-node-running)
/// ask a resource this, as they ask Node's own timers and sockets; without it they count
/// the function as open for as long as it exists, unref'd or not.
unsafe extern "C" fn has_ref(
    env: sys::napi_env,
    _info: sys::napi_callback_info,
) -> sys::napi_value {
    let held = PER_ENV.with(|cell| {
        cell.try_borrow().is_ok_and(|slot| {
            slot.as_ref()
                .is_some_and(|p| p.env == env && p.holds > 0 && p.js.0.tsfn.raw().is_some())
        })
    });
    let mut out = std::ptr::null_mut();
    // SAFETY: called by Node on the JS thread of `env`, with a handle scope open; on failure
    // `out` stays null, which Node reads as `undefined` (falsy).
    unsafe { sys::napi_get_boolean(env, held, &mut out) };
    out
}

/// The async resource of `env`'s thread-safe function: an object whose `hasRef()` says
/// whether the function holds the event loop ([`has_ref`]). JS thread.
fn async_resource(env: &Env) -> napi::Result<sys::napi_value> {
    let mut resource = std::ptr::null_mut();
    let mut has_ref_fn = std::ptr::null_mut();
    // SAFETY: JS thread (caller's contract); the values live in the caller's handle scope.
    unsafe {
        napi::check_status!(sys::napi_create_object(env.raw(), &mut resource))?;
        napi::check_status!(sys::napi_create_function(
            env.raw(),
            c"hasRef".as_ptr(),
            6,
            Some(has_ref),
            std::ptr::null_mut(),
            &mut has_ref_fn
        ))?;
        napi::check_status!(sys::napi_set_named_property(
            env.raw(),
            resource,
            c"hasRef".as_ptr(),
            has_ref_fn
        ))?;
    }
    Ok(resource)
}

unsafe extern "C" fn finalize_tsfn(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    // SAFETY: `data` is the `Arc<PerEnvShared>` leaked when the function was made; Node
    // finalizes once. Posting threads hold the read lock while they use the raw pointer.
    let shared = unsafe { Arc::from_raw(data.cast::<PerEnvShared>()) };
    *shared.tsfn.0.write().unwrap_or_else(|e| e.into_inner()) = None;
}

impl Js {
    /// The queue of the JS thread running `env`, made on first use. JS thread only.
    pub fn of(env: &Env) -> napi::Result<Js> {
        PER_ENV.with(|cell| {
            let mut slot = cell.borrow_mut();
            if let Some(per) = slot.as_ref().filter(|p| p.env == env.raw()) {
                return Ok(per.js.clone());
            }
            let shared = Arc::new(PerEnvShared {
                tsfn: Tsfn(RwLock::new(None)),
                tasks: Tasks::default(),
            });
            let mut raw = std::ptr::null_mut();
            // The resource must answer `hasRef()` from the start: async_hooks' `init` sees
            // it while the function is made.
            let resource = async_resource(env)?;
            // SAFETY: JS thread (caller's contract). No JS function: `run_call` does the
            // work. One leaked `Arc` is the finalizer's, reclaimed in `finalize_tsfn`; one is
            // the teardown hook's, reclaimed in `stop_tasks`.
            unsafe {
                let mut name = std::ptr::null_mut();
                napi::check_status!(sys::napi_create_string_utf8(
                    env.raw(),
                    c"abio".as_ptr(),
                    4,
                    &mut name
                ))?;
                napi::check_status!(sys::napi_create_threadsafe_function(
                    env.raw(),
                    std::ptr::null_mut(),
                    resource,
                    name,
                    0,
                    1,
                    Arc::into_raw(shared.clone()) as *mut c_void,
                    Some(finalize_tsfn),
                    std::ptr::null_mut(),
                    Some(run_call),
                    &mut raw,
                ))?;
                // Nothing is held yet: the process may exit.
                napi::check_status!(sys::napi_unref_threadsafe_function(env.raw(), raw))?;
                let hook = Arc::into_raw(shared.clone()) as *mut c_void;
                let status = sys::napi_add_env_cleanup_hook(env.raw(), Some(stop_tasks), hook);
                if status != sys::Status::napi_ok {
                    drop(Arc::from_raw(hook.cast::<PerEnvShared>()));
                    return Err(napi::Error::from_reason("napi_add_env_cleanup_hook failed"));
                }
            }
            *shared.tsfn.0.write().unwrap_or_else(|e| e.into_inner()) = Some(raw as usize);
            let js = Js(shared);
            *slot = Some(PerEnv {
                env: env.raw(),
                js: js.clone(),
                holds: 0,
            });
            Ok(js)
        })
    }

    /// Runs `f` on the JS thread soon. When the environment is gone, `f` is dropped
    /// without running (and `false` is returned).
    pub fn post(&self, f: impl FnOnce(&Env) + Send + 'static) -> bool {
        let guard = self.0.tsfn.0.read().unwrap_or_else(|e| e.into_inner());
        let Some(raw) = *guard else { return false };
        let call: Box<Posted> = Box::new(Box::new(f));
        let data = Box::into_raw(call);
        // SAFETY: the function is alive (not finalized) while we hold the read lock; the
        // queue is unbounded, so a nonblocking call only fails when it is closing.
        let status = unsafe {
            sys::napi_call_threadsafe_function(
                raw as sys::napi_threadsafe_function,
                data.cast(),
                sys::ThreadsafeFunctionCallMode::nonblocking,
            )
        };
        if status != sys::Status::napi_ok {
            // SAFETY: not queued, so still ours.
            drop(unsafe { Box::from_raw(data) });
            return false;
        }
        true
    }

    /// Runs `work` on the runtime as a task of this environment: one that may read or write
    /// its memory (a held body, a queued send) must be started here, never with a bare
    /// `tokio::spawn`. At the environment's teardown every such task is aborted and the
    /// teardown waits until its future is dropped, so nothing touches the memory the isolate
    /// frees next. After the teardown began, `work` is dropped without running. Any thread.
    pub fn spawn(&self, work: impl Future<Output = ()> + Send + 'static) {
        let mut set = self.0.tasks.set.lock().unwrap_or_else(|e| e.into_inner());
        if set.stopped {
            return;
        }
        let id = set.next;
        set.next += 1;
        let member = Member {
            env: self.0.clone(),
            id,
        };
        // The task cannot take itself off the list before it is on it: its `Member` needs
        // the lock held here.
        let task = net().spawn(async move {
            let _member = member;
            work.await
        });
        set.live.insert(id, task.abort_handle());
    }
}

/// hyper's connections (the client's pooled ones) run as tasks of the environment that made
/// them ([`Js::spawn`]).
impl<F> hyper::rt::Executor<F> for Js
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, fut: F) {
        self.spawn(async move {
            fut.await;
        });
    }
}

/// Whether one socket, server or pending connect keeps the event loop alive (as Node's
/// ref'd handles do). JS thread only; the flag is atomic only to be shareable.
#[derive(Default)]
pub struct KeepAlive(AtomicBool);

impl KeepAlive {
    /// Holds (`true`) or lets go of (`false`) the event loop; repeated calls are no-ops.
    pub fn set(&self, env: &Env, on: bool) {
        self.set_in(Some(env.raw()), on);
    }

    /// Lets go of the event loop of this JS thread's environment, where no `Env` is at
    /// hand (a finalizer).
    pub fn release_here(&self) {
        self.set_in(None, false);
    }

    fn set_in(&self, env: Option<sys::napi_env>, on: bool) {
        if self.0.swap(on, Ordering::Relaxed) == on {
            return;
        }
        PER_ENV.with(|cell| {
            let mut slot = cell.borrow_mut();
            let Some(per) = slot.as_mut().filter(|p| env.is_none_or(|e| p.env == e)) else {
                return;
            };
            let before = per.holds;
            per.holds = if on {
                before + 1
            } else {
                before.saturating_sub(1)
            };
            let Some(raw) = per.js.0.tsfn.raw() else {
                return;
            };
            // SAFETY: JS thread; the function is alive (checked just above, and only
            // this thread's environment teardown finalizes it).
            unsafe {
                if before == 0 && per.holds == 1 {
                    sys::napi_ref_threadsafe_function(per.env, raw);
                } else if before == 1 && per.holds == 0 {
                    sys::napi_unref_threadsafe_function(per.env, raw);
                }
            }
        });
    }

    /// Whether it holds the loop now.
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Work to do if the JS environment is torn down (a worker terminated, or the main thread
/// finishing) before [`Teardown::cancel`]: stopping what no JS will close any more, such as
/// a listening server, whose port would otherwise outlive its worker.
pub struct Teardown(*mut TeardownWork);

type TeardownWork = Option<Box<dyn FnOnce() + Send>>;

// SAFETY: the pointer is only dereferenced on the JS thread (the cleanup hook, or `cancel`
// with that thread's `Env`); moving it between threads is fine.
unsafe impl Send for Teardown {}

unsafe extern "C" fn run_teardown(arg: *mut c_void) {
    // SAFETY: `arg` is the box `Teardown::new` leaked; the hook runs at most once, and
    // `cancel` removes it before freeing the box.
    let work = unsafe { Box::from_raw(arg.cast::<TeardownWork>()) };
    if let Some(f) = *work {
        f();
    }
}

impl Teardown {
    /// Runs `f` at the teardown of `env`'s environment unless cancelled first. JS thread.
    pub fn new(env: &Env, f: Box<dyn FnOnce() + Send>) -> napi::Result<Teardown> {
        let work = Box::into_raw(Box::new(Some(f)));
        // SAFETY: JS thread; `work` stays valid until the hook runs or `cancel` frees it.
        let status =
            unsafe { sys::napi_add_env_cleanup_hook(env.raw(), Some(run_teardown), work.cast()) };
        if status != sys::Status::napi_ok {
            // SAFETY: not registered: still ours.
            drop(unsafe { Box::from_raw(work) });
            return Err(napi::Error::from_reason("napi_add_env_cleanup_hook failed"));
        }
        Ok(Teardown(work))
    }

    /// The work is not needed any more (closed by JS): forgets it. JS thread (`env`).
    pub fn cancel(self, env: &Env) {
        // SAFETY: JS thread; the hook has not run (it only runs at teardown, after which
        // no JS calls this), so the box is still ours once the hook is removed.
        unsafe {
            sys::napi_remove_env_cleanup_hook(env.raw(), Some(run_teardown), self.0.cast());
            drop(Box::from_raw(self.0));
        }
    }
}
