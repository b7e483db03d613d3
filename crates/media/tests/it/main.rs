//! hotline-media tests: G.711 against the standard's values, RTP/RTCP wire formats, receive
//! statistics under loss, reordering, duplicates, wrap-around and source changes.

mod g711;
mod rtp;
