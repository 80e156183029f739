//! multiproc-process (under construction).
