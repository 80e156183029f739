//! multiproc: Python's `multiprocessing` and `concurrent.futures.ProcessPoolExecutor` for Rust.
#![forbid(unsafe_code)]

pub use multiproc_codec as codec;
