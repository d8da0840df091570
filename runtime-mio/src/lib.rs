//! Drives a session-core `Endpoint` from a mio `Poll` that the caller owns.
#![forbid(unsafe_code)]
