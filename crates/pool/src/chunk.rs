//! Chunking: CPython's default `chunksize`, and cutting an input into encoded batches.

/// CPython's default chunk size for `map`: `ceil(len / (4 * workers))`, 0 for no input.
///
/// ```
/// use multiproc::pool::default_chunksize;
///
/// assert_eq!(default_chunksize(10, 4), 1);
/// assert_eq!(default_chunksize(100, 4), 7);
/// assert_eq!(default_chunksize(1000, 4), 63);
/// assert_eq!(default_chunksize(17, 2), 3);
/// assert_eq!(default_chunksize(0, 4), 0);
/// ```
pub fn default_chunksize(len: usize, workers: usize) -> usize {
    if len == 0 {
        return 0;
    }
    len.div_ceil(4 * workers.max(1))
}

/// The `(start, len)` of each chunk when `len` items are cut into chunks of `chunksize`
/// (the last one shorter): every index exactly once, in order.
///
/// ```
/// use multiproc::pool::chunks;
///
/// assert_eq!(chunks(7, 3).collect::<Vec<_>>(), [(0, 3), (3, 3), (6, 1)]);
/// assert_eq!(chunks(0, 3).count(), 0);
/// ```
pub fn chunks(len: usize, chunksize: usize) -> impl Iterator<Item = (usize, usize)> {
    let size = chunksize.max(1);
    (0..len.div_ceil(size)).map(move |i| {
        let start = i * size;
        (start, size.min(len - start))
    })
}
