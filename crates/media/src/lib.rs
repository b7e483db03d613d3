//! Hotline's media core, sans-IO: bytes and time in, bytes out. No sockets, no clock.
//!
//! - [`rtp`]: RTP packets (RFC 3550 §5) read in place and written into a caller's buffer;
//!   sequence numbers extended across wrap-around; receive statistics (loss, jitter) per
//!   source as RFC 3550 Appendix A computes them.
//! - [`rtcp`]: sender and receiver reports (RFC 3550 §6.4).
//! - [`g711`]: µ-law and A-law (ITU-T G.711), and transcoding between them.
//! - [`dtmf`]: RFC 4733 telephone-events received and sent; [`inband`]: DTMF tones detected in
//!   the audio (Goertzel, ITU-T Q.24 checks).
//! - [`sdp`]: session descriptions and offer/answer (RFC 4566, RFC 3264).
//! - [`wav`], [`resample`], [`playback`]: prompts, phrases and music on hold.
//! - [`recorder`]: two tracks of a call laid on one time line (stereo).
//! - [`mixer`]: three or more parties (supervisor listen, whisper, barge; conferences).
//! - [`room`]: three or more legs mixed every 20 ms (consultation, conference).
//! - [`session`]: a call's legs: symmetric RTP latching, relaying two legs (bridge),
//!   Hotline's own end of a call (endpoint).

pub mod dtmf;
pub mod g711;
pub mod inband;
pub mod mixer;
pub mod playback;
pub mod recorder;
pub mod resample;
pub mod room;
pub mod rtcp;
pub mod rtp;
pub mod sdp;
pub mod session;
pub mod wav;
