//! Function identity: how a `fn(A) -> R` is named in another process of the same binary.
//!
//! A function crosses the boundary as two offsets from an anchor symbol — the user's
//! function and the monomorphised trampoline that decodes `A`, calls, and encodes `R` —
//! plus the type fingerprint of `(A, R)`, tied together by a tag: a keyed hash of the
//! three by the process that made the identity ([`FunctionKey`]). The worker calls nothing
//! whose tag it cannot reproduce with its parent's key (a target paired with another
//! function's trampoline, or any code address as a trampoline, is refused), accepts an
//! offset only if it lands in the executable's own code, and the trampoline checks the
//! type fingerprint before it decodes or calls anything. The binary itself is checked
//! once, at the handshake.
//!
//! What stays trusted: the parent (whoever holds the key can tag any pair, as pickle
//! runs anything in CPython), and under the fork start method every child of it, which
//! holds a copy of its memory.

use std::hash::Hasher;
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Mutex, OnceLock};

use multiproc_codec::{FnId, RemoteFailure, TypeFingerprint, What, decode, encode, encode_into};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::batch::{BatchRun, REPORT_GRACE_NS};
use crate::panic::take_panic;
use crate::sys::{self, PerProcess};
use crate::task_return::TaskReturn;

/// What every task trampoline looks like: target address, claimed types, and the batch
/// to run. One call per batch: the types are checked once, then every item is decoded,
/// called and encoded without another indirect call.
pub(crate) type Trampoline =
    fn(usize, TypeFingerprint, &mut BatchRun<'_>) -> Result<(), RemoteFailure>;

/// What an initializer trampoline looks like: one call, one encoded `Result<(), String>`.
pub(crate) type InitTrampoline =
    fn(usize, TypeFingerprint, &[u8], &mut Vec<u8>) -> Result<(), RemoteFailure>;

/// A function that can run in another process: a plain `fn(A) -> R`, where `A` is an
/// owned serde value and `R` a [`TaskReturn`] (a serde value, or a `Result` whose `Err`
/// fails the task).
///
/// Non-capturing closures coerce to it. A capturing closure does not compile — the Rust
/// twin of Python's "can't pickle a lambda"; put state in the argument or in a worker
/// initializer instead:
///
/// ```compile_fail
/// let k = 3u64;
/// let f = multiproc::Function::new(move |x: u64| x + k); // error: expected fn pointer, found closure
/// ```
///
/// The argument is decoded in another process, so it must own its data: take `String`
/// rather than `&str`, `Vec<T>` rather than `&[T]` (a borrowed argument fails with serde's
/// "implementation of `Deserialize` is not general enough"):
///
/// ```compile_fail
/// let pool = multiproc::Pool::new(1).unwrap();
/// pool.apply(|s: &str| s.len(), "hello"); // error: implementation of `Deserialize` is not general enough
/// ```
///
/// ```
/// use multiproc::Function;
///
/// fn shout(s: String) -> String { s.to_uppercase() }
///
/// let square = Function::new(|x: u64| x * x);
/// let named = Function::new(shout);
/// assert_eq!((square.call(7), named.call("hi".into())), (49, "HI".to_string()));
/// ```
pub struct Function<A, R> {
    f: fn(A) -> R,
    _types: PhantomData<fn(A) -> R>,
}

impl<A, R> Clone for Function<A, R> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<A, R> Copy for Function<A, R> {}

impl<A, R> std::fmt::Debug for Function<A, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Function<{}, {}>", std::any::type_name::<A>(), std::any::type_name::<R>())
    }
}

impl<A, R> Function<A, R>
where
    A: Serialize + DeserializeOwned + 'static,
    R: 'static,
{
    /// Wraps `f`.
    pub fn new(f: fn(A) -> R) -> Function<A, R> {
        // Any binary that can name a function for another process links the bootstrap
        // hook, so every child of it is caught before `main` (see notes on the fork bomb).
        std::hint::black_box(&sys::BOOTSTRAP_HOOK);
        Function { f, _types: PhantomData }
    }

    /// The identity that crosses the boundary, tagged with this process's key (`Via`: see
    /// [`TaskReturn`]; inferred).
    ///
    /// ```
    /// use multiproc::Function;
    ///
    /// let f = Function::new(|x: u32| x + 1);
    /// assert_eq!(f.id(), f.id());
    /// assert_ne!(f.id(), Function::new(|x: u32| x + 2).id());
    /// ```
    pub fn id<Via>(&self) -> FnId
    where
        R: TaskReturn<Via>,
    {
        let anchor = sys::anchor_addr() as i64;
        tagged(
            self.f as usize as i64 - anchor,
            call::<A, R, Via> as Trampoline as usize as i64 - anchor,
            TypeFingerprint::of::<A, R>(),
        )
    }

    /// Calls the function here, in this process.
    ///
    /// ```
    /// assert_eq!(multiproc::Function::new(|x: u8| x * 2).call(21), 42);
    /// ```
    pub fn call(&self, arg: A) -> R {
        (self.f)(arg)
    }
}

/// The trampoline for `fn(A) -> R`: runs every item of a batch. A value `R` goes back as
/// it is; a `Result`'s `Err` goes back as the item's failure (see [`TaskReturn`]).
///
/// Items run back to back, each value written straight into the worker's answer ring,
/// while that goes plainly (see [`BatchRun::run_plain`]): the loop then holds what every
/// item touches in locals, where a loop through `run` would load it all again after each
/// call of `f`. An item that fails, or whose value does not fit the ring's open record,
/// is answered the general way, and the items after it run back to back again.
fn call<A, R, Via>(
    target: usize,
    types: TypeFingerprint,
    run: &mut BatchRun<'_>,
) -> Result<(), RemoteFailure>
where
    A: DeserializeOwned + 'static,
    R: TaskReturn<Via>,
{
    let expected = TypeFingerprint::of::<A, R>();
    if types != expected {
        return Err(RemoteFailure::TypeMismatch { expected, found: types });
    }
    // SAFETY: the binary fingerprint matched at the handshake, `target` was checked to lie
    // in this executable's code, and the type fingerprint of this trampoline matched the
    // one computed by the parent from the same `fn(A) -> R` it took the address of.
    let f: fn(A) -> R = unsafe { sys::fn_at(target) };
    let mut args = run.items.iter();
    loop {
        // The item that stopped a stretch run back to back, with its outcome.
        let mut stopped = None;
        let plain = run.run_plain(|counter, room| {
            let arg = args.next()?;
            counter.begin();
            let outcome = outcome(f, arg, |panicked| {
                if panicked {
                    counter.restart_clock(REPORT_GRACE_NS);
                }
            });
            match outcome.map(|value| (encode_into(&value, What::Result, room), value)) {
                Ok((Ok(Some(len)), _)) => Some(len),
                Ok((_, value)) => {
                    stopped = Some(Ok(value));
                    None
                }
                Err(failure) => {
                    stopped = Some(Err(failure));
                    None
                }
            }
        });
        if !plain {
            break;
        }
        match stopped {
            Some(outcome) => answer(run, outcome),
            // The items ended, or the open record has no room left: the next item, if
            // there is one, goes the general way (its answer opens a fresh record).
            None => match args.next() {
                Some(arg) if one(run, f, arg) => {}
                _ => return Ok(()),
            },
        }
    }
    for arg in args {
        if !one(run, f, arg) {
            break; // taken back by the parent
        }
    }
    Ok(())
}

/// Runs one item the general way: claims and starts it, calls `f`, answers. False if it
/// was taken back (then so was the rest of the batch).
#[inline(always)]
fn one<A, R, Via>(run: &mut BatchRun<'_>, f: fn(A) -> R, arg: &[u8]) -> bool
where
    A: DeserializeOwned + 'static,
    R: TaskReturn<Via>,
{
    if !run.begin_item() {
        return false;
    }
    let outcome = outcome(f, arg, |panicked| {
        run.returned();
        if panicked {
            // The task's time ends here; writing up its panic has its own.
            run.restart_clock(REPORT_GRACE_NS);
        }
    });
    answer(run, outcome);
    true
}

/// Decodes `arg` and calls `f` on it: the value it returned, or the item's failure (the
/// argument did not decode, `f` panicked or returned an error). `returned` runs as soon as
/// `f` returned or panicked (with true then), or was not called.
#[inline(always)]
fn outcome<A, R, Via>(
    f: fn(A) -> R,
    arg: &[u8],
    returned: impl FnOnce(bool),
) -> Result<R::Value, RemoteFailure>
where
    A: DeserializeOwned + 'static,
    R: TaskReturn<Via>,
{
    let arg = match decode::<A>(arg, What::Argument) {
        Ok(arg) => arg,
        Err(e) => {
            // Nothing was called: the limits' watch ends here all the same.
            returned(false);
            return Err(RemoteFailure::Codec(e));
        }
    };
    let called = catch_unwind(AssertUnwindSafe(|| f(arg)));
    returned(called.is_err());
    match called {
        Ok(returned) => returned.into_value().map_err(RemoteFailure::Failed),
        Err(payload) => Err(RemoteFailure::Panicked(take_panic(payload.as_ref()))),
    }
}

/// Answers the started item with its outcome (a value that cannot be encoded, or is too
/// large, fails it), and ends it.
fn answer<V: Serialize>(run: &mut BatchRun<'_>, outcome: Result<V, RemoteFailure>) {
    if let Err(failure) = outcome.and_then(|value| run.out.value(&value)) {
        run.fail_item(failure);
    }
    run.end_item();
}

/// A function of several arguments, called with a tuple: what `starmap` and the other
/// `*_star` calls take.
///
/// Implemented for fn items and non-capturing closures of 1 to 6 arguments. Each is
/// turned into a `fn((A, B, ...)) -> R` through a monomorphised shim, so it travels like
/// any [`Function`].
///
/// ```
/// use multiproc::{Function, StarFn};
///
/// fn add(a: u64, b: u64) -> u64 { a + b }
/// let f: Function<(u64, u64), u64> = add.into_function();
/// assert_eq!(f.call((2, 3)), 5);
/// ```
pub trait StarFn<Args, R>: Copy + 'static {
    /// The unary function over the argument tuple.
    fn into_function(self) -> Function<Args, R>;
}

macro_rules! star_fn {
    ($($a:ident),+) => {
        impl<F, $($a,)+ R> StarFn<($($a,)+), R> for F
        where
            F: Fn($($a),+) -> R + Copy + 'static,
            $($a: Serialize + DeserializeOwned + 'static,)+
            R: 'static,
        {
            fn into_function(self) -> Function<($($a,)+), R> {
                #[expect(non_snake_case, reason = "type parameters double as bindings")]
                fn shim<F: Fn($($a),+) -> R + Copy + 'static, $($a,)+ R>(($($a,)+): ($($a,)+)) -> R {
                    let f: F = sys::conjure_zst();
                    f($($a),+)
                }
                const { assert!(std::mem::size_of::<F>() == 0, "starmap takes a fn item or a non-capturing closure") };
                Function::new(shim::<F, $($a,)+ R>)
            }
        }
    };
}

star_fn!(A);
star_fn!(A, B);
star_fn!(A, B, C);
star_fn!(A, B, C, D);
star_fn!(A, B, C, D, E);
star_fn!(A, B, C, D, E, G);

/// The executable's code, as address ranges of this process. Computed once; a parent
/// calls it before forking so that its children inherit the answer instead of each
/// parsing `/proc/self/maps` again.
pub(crate) fn code_ranges() -> &'static [(usize, usize)] {
    static RANGES: OnceLock<Vec<(usize, usize)>> = OnceLock::new();
    RANGES.get_or_init(|| {
        let exe = std::fs::read_link("/proc/self/exe").unwrap_or_default();
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
        maps.lines()
            .filter_map(|line| {
                let mut parts = line.split_whitespace();
                let range = parts.next()?;
                let perms = parts.next()?;
                let path = parts.nth(3)?;
                if !perms.contains('x') || std::path::Path::new(path) != exe {
                    return None;
                }
                let (lo, hi) = range.split_once('-')?;
                Some((usize::from_str_radix(lo, 16).ok()?, usize::from_str_radix(hi, 16).ok()?))
            })
            .collect()
    })
}

fn code_address(offset: i64, what: &str) -> Result<usize, RemoteFailure> {
    let addr = (sys::anchor_addr() as i64).wrapping_add(offset) as usize;
    if code_ranges().iter().any(|&(lo, hi)| (lo..hi).contains(&addr)) {
        Ok(addr)
    } else {
        Err(RemoteFailure::BadFunction(format!(
            "the {what} offset {offset:#x} does not land in this executable's code"
        )))
    }
}

/// A function identity checked against this process's code, ready to call.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Resolved {
    id: FnId,
    target: usize,
    trampoline: usize,
}

impl Resolved {
    /// Checks the tag of `id` (with the key this process trusts), then both offsets.
    pub(crate) fn new(id: FnId) -> Result<Resolved, RemoteFailure> {
        if id.tag != tag(trusted_key(), id.target, id.trampoline, id.types) {
            return Err(RemoteFailure::BadFunction(
                "the function and trampoline of this identity were not paired by the parent; \
                 nothing was called"
                    .into(),
            ));
        }
        let target = code_address(id.target, "function")?;
        let trampoline = code_address(id.trampoline, "trampoline")?;
        Ok(Resolved { id, target, trampoline })
    }

    /// The identity this was resolved from.
    pub(crate) fn id(&self) -> FnId {
        self.id
    }

    /// Runs a task batch; an `Err` means nothing was called (every item must fail).
    pub(crate) fn run(&self, batch: &mut BatchRun<'_>) -> Result<(), RemoteFailure> {
        // SAFETY: the address lies in this executable's code, the binary matched at the
        // handshake, and a parent sends a task trampoline's offset only with task frames.
        let trampoline: Trampoline = unsafe { sys::fn_at(self.trampoline) };
        trampoline(self.target, self.id.types, batch)
    }

    /// Runs an initializer on its encoded argument.
    pub(crate) fn initialize(&self, arg: &[u8], out: &mut Vec<u8>) -> Result<(), RemoteFailure> {
        // SAFETY: as in `run`; a parent sends an initializer trampoline's offset only in
        // `Initialize` messages.
        let trampoline: InitTrampoline = unsafe { sys::fn_at(self.trampoline) };
        trampoline(self.target, self.id.types, arg, out)
    }
}

/// The secret that ties a function identity's parts together: each process makes its own
/// at random on first use and tags the identities it makes with it ([`function_key`]); a
/// worker verifies the identities it is sent with its parent's key, which it learns at
/// boot over its private channel ([`trust_function_key`]).
///
/// ```
/// use multiproc::process::function_key;
///
/// assert_eq!(function_key(), function_key()); // one per process
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionKey([u64; 2]);

impl std::fmt::Debug for FunctionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FunctionKey(..)")
    }
}

/// Per process: a forked child makes its own key for the identities it makes.
static OWN_KEY: PerProcess<FunctionKey> = PerProcess::new();
/// Per process: the key of the process whose identities this one runs (its parent's).
static TRUSTED_KEY: PerProcess<Mutex<Option<FunctionKey>>> = PerProcess::new();

/// This process's [`FunctionKey`], the one that tags every [`Function::id`] made here.
pub fn function_key() -> FunctionKey {
    *OWN_KEY.get(|| FunctionKey(sys::random_words()))
}

/// From now on, runs in this process only function identities tagged with `key` (by
/// default, with this process's own): what a worker of another process (an MPI rank, say)
/// calls with the key its parent sent it.
///
/// ```
/// use multiproc::process::{function_key, trust_function_key};
///
/// trust_function_key(function_key()); // the default: identities made here
/// ```
pub fn trust_function_key(key: FunctionKey) {
    *TRUSTED_KEY.get(|| Mutex::new(None)).lock().unwrap_or_else(|e| e.into_inner()) = Some(key);
}

fn trusted_key() -> FunctionKey {
    let trusted = *TRUSTED_KEY.get(|| Mutex::new(None)).lock().unwrap_or_else(|e| e.into_inner());
    trusted.unwrap_or_else(function_key)
}

/// The tag of a (target, trampoline, types) triple under `key`: SipHash-2-4 keyed with it.
fn tag(key: FunctionKey, target: i64, trampoline: i64, types: TypeFingerprint) -> u64 {
    #[expect(deprecated, reason = "std's one keyed SipHash; the hash is what is wanted here")]
    let mut h = std::hash::SipHasher::new_with_keys(key.0[0], key.0[1]);
    h.write_i64(target);
    h.write_i64(trampoline);
    h.write_u64(types.0);
    h.finish()
}

/// The identity of the triple, tagged with this process's key.
fn tagged(target: i64, trampoline: i64, types: TypeFingerprint) -> FnId {
    FnId { target, trampoline, types, tag: tag(function_key(), target, trampoline, types) }
}

/// A copy of `id` with its tag made again by this process: a test's forgery of one part
/// that only the check of that part (not the tag) must catch.
pub(crate) fn retag(id: FnId) -> FnId {
    tagged(id.target, id.trampoline, id.types)
}

/// What an initializer may return: nothing, or a `Result` whose error is reported.
///
/// ```
/// use multiproc::InitOutcome;
///
/// assert_eq!(().into_result(), Ok(()));
/// assert_eq!(Err::<(), _>("no database").into_result(), Err("no database".to_string()));
/// ```
pub trait InitOutcome {
    /// `Ok(())`, or the error's text.
    fn into_result(self) -> Result<(), String>;
}

impl InitOutcome for () {
    fn into_result(self) -> Result<(), String> {
        Ok(())
    }
}

impl<E: std::fmt::Display> InitOutcome for Result<(), E> {
    fn into_result(self) -> Result<(), String> {
        self.map_err(|e| e.to_string())
    }
}

impl<A, R> Function<A, R>
where
    A: Serialize + DeserializeOwned + 'static,
    R: InitOutcome + Serialize + DeserializeOwned + 'static,
{
    /// The identity of this function used as a worker initializer: its trampoline turns
    /// the outcome into a `Result<(), String>` the worker understands.
    pub fn init_id(&self) -> FnId {
        let anchor = sys::anchor_addr() as i64;
        tagged(
            self.f as usize as i64 - anchor,
            call_init::<A, R> as InitTrampoline as usize as i64 - anchor,
            TypeFingerprint::of::<A, R>(),
        )
    }
}

/// The initializer trampoline for `fn(A) -> R`.
fn call_init<A, R>(
    target: usize,
    types: TypeFingerprint,
    arg: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), RemoteFailure>
where
    A: DeserializeOwned + 'static,
    R: InitOutcome + 'static,
{
    let expected = TypeFingerprint::of::<A, R>();
    if types != expected {
        return Err(RemoteFailure::TypeMismatch { expected, found: types });
    }
    let arg: A = decode(arg, What::InitArgument).map_err(RemoteFailure::Codec)?;
    // SAFETY: as in `call`: same binary, target inside its code, types checked.
    let f: fn(A) -> R = unsafe { sys::fn_at(target) };
    let outcome = catch_unwind(AssertUnwindSafe(|| f(arg).into_result()))
        .map_err(|payload| RemoteFailure::Panicked(take_panic(payload.as_ref())))?;
    encode(&outcome, What::Result, out).map_err(RemoteFailure::Codec)
}
