//! hotline-media tests: G.711 against the standard's values, RTP/RTCP wire formats, receive
//! statistics under loss, reordering, duplicates, wrap-around and source changes; DTMF both
//! ways and in-band; SDP offer/answer; playback, recording, mixing and the relay in virtual time.

mod audio;
mod dtmf;
mod g711;
mod inband;
mod rtcp;
mod rtp;
mod sdp;
mod session;
