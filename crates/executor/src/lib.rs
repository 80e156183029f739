//! multiproc-executor (under construction).
