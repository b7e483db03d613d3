//! Mixing for three or more parties: a supervisor listening, whispering or joining, and
//! conference transfers.
//!
//! Each party hears the sum of the parties it is set to hear (never itself), clipped to 16
//! bits. [`Monitor`] gives the usual supervisor modes for a call of caller, agent and
//! supervisor.

/// Who hears whom, for up to 32 parties: bit `j` of `hears[i]` means party `i` hears party `j`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mixer {
    hears: Vec<u32>,
}

/// The supervisor's mode on a call of caller (0), agent (1) and supervisor (2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Monitor {
    /// The supervisor hears both; nobody hears the supervisor.
    Listen,
    /// The supervisor hears both; only the agent hears the supervisor (coaching).
    Whisper,
    /// Everyone hears everyone.
    Barge,
}

pub const CALLER: usize = 0;
pub const AGENT: usize = 1;
pub const SUPERVISOR: usize = 2;

impl Mixer {
    /// Everyone hears everyone else (a conference).
    pub fn conference(parties: usize) -> Mixer {
        let parties = parties.min(32);
        let all = if parties == 32 {
            u32::MAX
        } else {
            (1u32 << parties) - 1
        };
        Mixer {
            hears: (0..parties).map(|i| all & !(1 << i)).collect(),
        }
    }

    /// Caller, agent and a supervisor in `mode`.
    pub fn monitor(mode: Monitor) -> Mixer {
        let mut m = Mixer::conference(3);
        match mode {
            Monitor::Listen => {
                m.set(CALLER, SUPERVISOR, false);
                m.set(AGENT, SUPERVISOR, false);
            }
            Monitor::Whisper => m.set(CALLER, SUPERVISOR, false),
            Monitor::Barge => {}
        }
        m
    }

    /// Sets whether `listener` hears `speaker` (a party never hears itself).
    pub fn set(&mut self, listener: usize, speaker: usize, on: bool) {
        if listener == speaker || listener >= self.hears.len() || speaker >= 32 {
            return;
        }
        if on {
            self.hears[listener] |= 1 << speaker;
        } else {
            self.hears[listener] &= !(1 << speaker);
        }
    }

    pub fn hears(&self, listener: usize, speaker: usize) -> bool {
        self.hears
            .get(listener)
            .is_some_and(|h| speaker < 32 && h & (1 << speaker) != 0)
    }

    /// Mixes one frame: `inputs[j]` is what party `j` said, `outputs[i]` receives what party
    /// `i` hears. All frames have the same length.
    pub fn mix(&self, inputs: &[&[i16]], outputs: &mut [&mut [i16]]) {
        for (i, out) in outputs.iter_mut().enumerate().take(self.hears.len()) {
            let mask = self.hears[i];
            for (k, o) in out.iter_mut().enumerate() {
                let mut acc = 0i32;
                for (j, input) in inputs.iter().enumerate().take(32) {
                    if mask & (1 << j) != 0 {
                        acc += i32::from(input.get(k).copied().unwrap_or(0));
                    }
                }
                *o = acc.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16;
            }
        }
    }
}
