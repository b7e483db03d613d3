//! In-band DTMF detection (tones in the audio itself), for trunks that do not send RFC 4733.
//!
//! Goertzel filters at the eight DTMF frequencies run over half-blocks of 51 samples at 8 kHz;
//! each new half-block closes a 102-sample window (12.75 ms, a hop of 6.4 ms). A window holds
//! a digit when the checks of ITU-T Q.24 hold:
//!
//! - **level**: each tone at least [`MIN_LEVEL_DBM0`];
//! - **twist**: the high-group tone at most 4 dB above the low-group tone (reverse twist) and
//!   at most 8 dB below it (normal twist);
//! - **frequency**: each tone within 2.5 % + 2 Hz of its nominal frequency (Q.24 asks for
//!   acceptance within 1.5 % + 2 Hz and rejection beyond 3.5 %), measured from the phase
//!   advance of the Goertzel output between the window's two halves;
//! - **purity**: the strongest tone of each group 8 dB above the others of its group, and the
//!   two tones together at least 75 % of the window's energy — speech spreads its energy over
//!   harmonics and formants, which is what keeps talk-off away;
//! - **duration**: a digit is reported after four windows in a row (≥ 32 ms of tone; Q.24:
//!   accept 40 ms, reject under 23 ms) and released after three windows without it, so a
//!   short drop-out inside a tone does not make two digits.

use crate::dtmf::DIGITS;

const RATE: f64 = 8000.0;
const HALF: usize = 51;
const WINDOW: f64 = (2 * HALF) as f64;
const ROWS: [f64; 4] = [697.0, 770.0, 852.0, 941.0];
const COLS: [f64; 4] = [1209.0, 1336.0, 1477.0, 1633.0];

/// The weakest tone accepted, in dBm0.
pub const MIN_LEVEL_DBM0: f64 = -30.0;
/// Mean power of a 0 dBm0 sine in 16-bit linear samples (G.711: 3.17 dB below full scale).
const ZERO_DBM0_POWER: f64 = 16_044.0 * 16_044.0;
const REVERSE_TWIST: f64 = 2.512; // 4 dB
const NORMAL_TWIST: f64 = 6.310; // 8 dB
const RELATIVE_PEAK: f64 = 6.310; // 8 dB
const MIN_PURITY: f64 = 0.75;
const HITS_TO_REPORT: u8 = 4;
const MISSES_TO_RELEASE: u8 = 3;

/// A digit heard in the audio, at sample positions counted from the first sample fed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ToneEvent {
    Digit { digit: char, at: u64 },
    End { digit: char, at: u64 },
}

#[derive(Clone, Copy, Debug)]
struct Filter {
    coeff: f64,
    cos: f64,
    sin: f64,
    /// cos and sin of ω·HALF, to join the two halves into one window.
    cos_half: f64,
    sin_half: f64,
    omega: f64,
}

impl Filter {
    fn new(freq: f64) -> Filter {
        let omega = 2.0 * std::f64::consts::PI * freq / RATE;
        Filter {
            coeff: 2.0 * omega.cos(),
            cos: omega.cos(),
            sin: omega.sin(),
            cos_half: (omega * HALF as f64).cos(),
            sin_half: (omega * HALF as f64).sin(),
            omega,
        }
    }
}

/// The Goertzel state of one filter over the current half-block.
#[derive(Clone, Copy, Debug, Default)]
struct State {
    s1: f64,
    s2: f64,
}

/// Detects DTMF digits in 8 kHz linear audio of one stream.
#[derive(Debug)]
pub struct ToneDetector {
    filters: [Filter; 8],
    state: [State; 8],
    /// Complex outputs of the previous half-block.
    previous: [(f64, f64); 8],
    previous_energy: f64,
    energy: f64,
    filled: usize,
    halves: u64,
    position: u64,
    candidate: Option<u8>,
    hits: u8,
    present: Option<u8>,
    misses: u8,
}

impl Default for ToneDetector {
    fn default() -> Self {
        ToneDetector::new()
    }
}

impl ToneDetector {
    pub fn new() -> ToneDetector {
        let mut filters = [Filter::new(0.0); 8];
        for (i, f) in ROWS.iter().chain(COLS.iter()).enumerate() {
            filters[i] = Filter::new(*f);
        }
        ToneDetector {
            filters,
            state: [State::default(); 8],
            previous: [(0.0, 0.0); 8],
            previous_energy: 0.0,
            energy: 0.0,
            filled: 0,
            halves: 0,
            position: 0,
            candidate: None,
            hits: 0,
            present: None,
            misses: 0,
        }
    }

    /// Feeds samples; digits found are appended to `out`.
    pub fn feed(&mut self, samples: &[i16], out: &mut Vec<ToneEvent>) {
        for &x in samples {
            let x = f64::from(x);
            self.energy += x * x;
            for (st, f) in self.state.iter_mut().zip(self.filters.iter()) {
                let s0 = x + f.coeff * st.s1 - st.s2;
                st.s2 = st.s1;
                st.s1 = s0;
            }
            self.filled += 1;
            self.position += 1;
            if self.filled == HALF {
                self.close_half(out);
            }
        }
    }

    fn close_half(&mut self, out: &mut Vec<ToneEvent>) {
        let mut current = [(0.0, 0.0); 8];
        for (i, (st, f)) in self.state.iter_mut().zip(self.filters.iter()).enumerate() {
            // y = s1 - e^{-jω}·s2 (equals e^{jω(N-1)}·X(ω), the same phase factor each half).
            current[i] = (st.s1 - f.cos * st.s2, f.sin * st.s2);
            *st = State::default();
        }
        let energy = self.energy;
        self.energy = 0.0;
        self.filled = 0;
        self.halves += 1;
        if self.halves >= 2 {
            let hit = self.judge(&current, energy + self.previous_energy);
            self.step(hit, out);
        }
        self.previous = current;
        self.previous_energy = energy;
    }

    /// The digit the window (previous half + this half) holds, if it passes every check.
    fn judge(&self, current: &[(f64, f64); 8], energy: f64) -> Option<u8> {
        if energy <= 0.0 {
            return None;
        }
        let mut power = [0.0f64; 8];
        for i in 0..8 {
            let f = &self.filters[i];
            let (a_re, a_im) = self.previous[i];
            let (b_re, b_im) = current[i];
            // X = y1 + e^{-jωH}·y2
            let re = a_re + f.cos_half * b_re + f.sin_half * b_im;
            let im = a_im + f.cos_half * b_im - f.sin_half * b_re;
            // Mean power of the sinusoid: A²/2 = 2|X|²/N².
            power[i] = 2.0 * (re * re + im * im) / (WINDOW * WINDOW);
        }
        let best = |group: &[f64]| -> usize {
            let mut b = 0;
            for (i, p) in group.iter().enumerate() {
                if *p > group[b] {
                    b = i;
                }
            }
            b
        };
        let r = best(&power[..4]);
        let c = best(&power[4..]);
        let (pr, pc) = (power[r], power[4 + c]);
        let min_power = ZERO_DBM0_POWER * 10f64.powf(MIN_LEVEL_DBM0 / 10.0);
        if pr < min_power || pc < min_power {
            return None;
        }
        if pc > pr * REVERSE_TWIST || pr > pc * NORMAL_TWIST {
            return None;
        }
        for (i, p) in power[..4].iter().enumerate() {
            if i != r && p * RELATIVE_PEAK > pr {
                return None;
            }
        }
        for (i, p) in power[4..].iter().enumerate() {
            if i != c && p * RELATIVE_PEAK > pc {
                return None;
            }
        }
        let mean = energy / WINDOW;
        if (pr + pc) < MIN_PURITY * mean {
            return None;
        }
        for i in [r, 4 + c] {
            if !self.on_frequency(i, current) {
                return None;
            }
        }
        Some((r * 4 + c) as u8)
    }

    /// Whether tone `i`'s frequency, from the phase advance between the halves, is near nominal.
    fn on_frequency(&self, i: usize, current: &[(f64, f64); 8]) -> bool {
        let f = &self.filters[i];
        let (a_re, a_im) = self.previous[i];
        let (b_re, b_im) = current[i];
        // arg(y2 · conj(y1))
        let re = b_re * a_re + b_im * a_im;
        let im = b_im * a_re - b_re * a_im;
        let advance = im.atan2(re);
        let mut delta = advance - f.omega * HALF as f64;
        let tau = 2.0 * std::f64::consts::PI;
        delta -= tau * (delta / tau).round();
        let offset_hz = delta * RATE / (tau * HALF as f64);
        let nominal = f.omega * RATE / tau;
        offset_hz.abs() <= 0.025 * nominal + 2.0
    }

    fn step(&mut self, hit: Option<u8>, out: &mut Vec<ToneEvent>) {
        match hit {
            Some(d) if self.candidate == Some(d) => self.hits = self.hits.saturating_add(1),
            Some(d) => {
                self.candidate = Some(d);
                self.hits = 1;
            }
            None => {
                self.candidate = None;
                self.hits = 0;
            }
        }
        if let Some(p) = self.present {
            if hit == Some(p) {
                self.misses = 0;
            } else {
                self.misses += 1;
                if self.misses >= MISSES_TO_RELEASE {
                    self.present = None;
                    self.misses = 0;
                    out.push(ToneEvent::End {
                        digit: char::from(DIGITS[usize::from(key(p))]),
                        at: self.position,
                    });
                }
            }
        }
        if self.present.is_none() && self.hits >= HITS_TO_REPORT {
            if let Some(d) = self.candidate {
                self.present = Some(d);
                self.misses = 0;
                out.push(ToneEvent::Digit {
                    digit: char::from(DIGITS[usize::from(key(d))]),
                    at: self.position,
                });
            }
        }
    }
}

/// RFC 4733 event codes of the keypad, row by row (1 2 3 A / 4 5 6 B / 7 8 9 C / * 0 # D).
const KEYS: [u8; 16] = [1, 2, 3, 12, 4, 5, 6, 13, 7, 8, 9, 14, 10, 0, 11, 15];

/// The RFC 4733 event code of a (row, column) pair numbered row·4 + column.
fn key(rc: u8) -> u8 {
    KEYS[usize::from(rc & 15)]
}

/// The two frequencies of a DTMF key (low, high), for generating tones.
pub fn frequencies(digit: char) -> Option<(f64, f64)> {
    let event = crate::dtmf::event_of(digit)?;
    let rc = KEYS.iter().position(|&k| k == event)?;
    Some((ROWS[rc / 4], COLS[rc % 4]))
}

/// The share of a signal's power at `freq` Hz (8 kHz samples): 1.0 for a pure tone at that
/// frequency, near 0 for one elsewhere. One Goertzel bin over the whole signal; for checking
/// what a recording or a stream carries.
pub fn tone_share(samples: &[i16], freq: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * freq / RATE;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2, mut energy) = (0.0f64, 0.0f64, 0.0f64);
    for &x in samples {
        let x = f64::from(x);
        energy += x * x;
        let s0 = x + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    if energy == 0.0 {
        return 0.0;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    2.0 * power / (samples.len() as f64 * energy)
}
