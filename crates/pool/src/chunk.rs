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

/// A frame holds at most this many items: a larger chunk travels as several frames.
///
/// Python's `chunksize` says how many items a worker takes per message, to spread the
/// cost of a message over many items. Past a few thousand small items that cost is paid
/// and larger frames only hurt: a worker waits for the whole frame to be encoded before it
/// starts, the parent waits for the whole result frame before it decodes, and buffers fall
/// out of the cache. So a chunk is cut into frames of about equal size, each sent as
/// soon as it is encoded. They are scheduled like chunks (CPython's chunk sizes are
/// "approximate" too): a chunk's frames may run on different workers.
pub(crate) const FRAME_ITEMS: usize = 16 * 1024;

/// A lazy job (`imap`) puts several chunks of quick tasks in one frame, as many as run in
/// about this long...
pub(crate) const FRAME_TIME: std::time::Duration = std::time::Duration::from_millis(1);

/// ... and at most this many items. A lazy job keeps three frames per worker in flight,
/// and their results wait for a consumer that may pause: with frames of 16 Ki items a
/// paused `imap` of small items held 8 MiB more than one of 1,000 items (3.2x its peak
/// RSS, W10), with 2 Ki items 1.2 MiB (1.3x), for about 10% of W2's throughput.
pub(crate) const LAZY_FRAME_ITEMS: usize = 2 * 1024;

/// A frame takes no more items once its payload reaches this many bytes.
pub(crate) const FRAME_BYTES: usize = 256 << 10;

/// Items per frame for chunks of `chunksize` items: the chunk cut into equal parts of at
/// most [`FRAME_ITEMS`].
pub(crate) fn frame_items(chunksize: usize) -> usize {
    let chunksize = chunksize.max(1);
    chunksize.div_ceil(chunksize.div_ceil(FRAME_ITEMS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_cut_chunks_into_equal_parts() {
        assert_eq!(frame_items(1), 1);
        assert_eq!(frame_items(FRAME_ITEMS), FRAME_ITEMS);
        assert_eq!(frame_items(FRAME_ITEMS + 1), FRAME_ITEMS / 2 + 1);
        assert_eq!(frame_items(125_000), 15_625);
        for chunksize in [1, 7, 10_000, 16_385, 125_000, 1 << 30] {
            let per = frame_items(chunksize);
            assert!(per <= FRAME_ITEMS && per * chunksize.div_ceil(per) >= chunksize);
            assert_eq!(chunksize.div_ceil(per), chunksize.div_ceil(FRAME_ITEMS));
        }
    }
}
