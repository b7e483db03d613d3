//! Hotline's media core, sans-IO: bytes and time in, bytes out. No sockets, no clock.
//!
//! - [`rtp`]: RTP packets (RFC 3550 §5) read in place and written into a caller's buffer;
//!   sequence numbers extended across wrap-around; receive statistics (loss, jitter) per
//!   source as RFC 3550 Appendix A computes them.
//! - [`rtcp`]: sender and receiver reports (RFC 3550 §6.4).
//! - [`g711`]: µ-law and A-law (ITU-T G.711), and transcoding between them.

pub mod g711;
pub mod rtcp;
pub mod rtp;
