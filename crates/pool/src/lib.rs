//! multiproc-pool (under construction).
