//! RTCP (placeholder).
