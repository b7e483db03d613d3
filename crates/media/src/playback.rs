//! Playback: prompts, phrases joined from parts, and music on hold looping without a gap.
//!
//! Everything is 8 kHz mono linear here; files and speech are converted once when loaded
//! ([`Prompt::from_audio`]). The player fills one packet's worth of samples at a time.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::resample::resample;
use crate::wav::Audio;

/// The sample rate of everything played.
pub const RATE: u32 = 8000;
/// The fade at each end of a prompt (2 ms), so parts joined into a phrase do not click.
const FADE: usize = 16;

/// A prompt ready to play: 8 kHz mono, shared between calls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prompt(pub Arc<[i16]>);

impl Prompt {
    /// Converts loaded audio to 8 kHz and fades its ends in and out.
    pub fn from_audio(audio: &Audio) -> Prompt {
        let mut samples = resample(&audio.samples, audio.rate, RATE);
        let n = samples.len();
        let fade = FADE.min(n / 2);
        for i in 0..fade {
            let g = i as i32;
            samples[i] = (i32::from(samples[i]) * g / FADE as i32) as i16;
            let j = n - 1 - i;
            samples[j] = (i32::from(samples[j]) * g / FADE as i32) as i16;
        }
        Prompt(samples.into())
    }

    /// Music: converted to 8 kHz, ends untouched so the loop joins sample to sample.
    pub fn music(audio: &Audio) -> Prompt {
        Prompt(resample(&audio.samples, audio.rate, RATE).into())
    }

    pub fn samples(&self) -> &[i16] {
        &self.0
    }

    pub fn duration_ms(&self) -> u64 {
        self.0.len() as u64 * 1000 / u64::from(RATE)
    }
}

#[derive(Clone, Debug)]
enum Item {
    Audio(Prompt),
    Silence(usize),
}

impl Item {
    fn len(&self) -> usize {
        match self {
            Item::Audio(p) => p.0.len(),
            Item::Silence(n) => *n,
        }
    }
}

/// What one fill did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Filled {
    /// The queue of prompts ran out during this fill (once per queue).
    pub finished: bool,
}

/// Plays queued prompts one after another, then music (if set) in a loop, then silence.
#[derive(Debug, Default)]
pub struct Player {
    queue: VecDeque<Item>,
    position: usize,
    music: Option<Prompt>,
    music_position: usize,
    busy: bool,
}

impl Player {
    pub fn new() -> Player {
        Player::default()
    }

    /// Queues a prompt after whatever is queued.
    pub fn play(&mut self, prompt: Prompt) {
        if !prompt.0.is_empty() {
            self.queue.push_back(Item::Audio(prompt));
            self.busy = true;
        }
    }

    /// Queues a phrase: its parts back to back ("you are number" + "3" + "in the queue").
    pub fn play_phrase(&mut self, parts: impl IntoIterator<Item = Prompt>) {
        for p in parts {
            self.play(p);
        }
    }

    /// Queues a pause.
    pub fn pause(&mut self, ms: u32) {
        let n = (ms as usize) * (RATE as usize) / 1000;
        if n > 0 {
            self.queue.push_back(Item::Silence(n));
            self.busy = true;
        }
    }

    /// Music to loop whenever nothing is queued (`None` for silence). Music set again keeps
    /// its place, so a caller coming back from a prompt hears it go on.
    pub fn set_music(&mut self, music: Option<Prompt>) {
        if self.music != music {
            self.music_position = 0;
        }
        self.music = music.filter(|m| !m.0.is_empty());
    }

    /// Drops everything queued (a caller pressed a key: barge-in).
    pub fn stop(&mut self) {
        self.queue.clear();
        self.position = 0;
        self.busy = false;
    }

    /// Whether prompts are queued.
    pub fn is_playing(&self) -> bool {
        !self.queue.is_empty()
    }

    /// Fills `out` with the next samples.
    pub fn fill(&mut self, out: &mut [i16]) -> Filled {
        let mut done = 0;
        while done < out.len() {
            let Some(item) = self.queue.front() else {
                break;
            };
            let left = item.len() - self.position;
            let n = left.min(out.len() - done);
            match item {
                Item::Audio(p) => {
                    out[done..done + n].copy_from_slice(&p.0[self.position..self.position + n])
                }
                Item::Silence(_) => out[done..done + n].fill(0),
            }
            done += n;
            self.position += n;
            if self.position == item.len() {
                self.queue.pop_front();
                self.position = 0;
            }
        }
        let mut filled = Filled::default();
        if self.busy && self.queue.is_empty() {
            self.busy = false;
            filled.finished = true;
        }
        match &self.music {
            Some(m) => {
                while done < out.len() {
                    let n = (m.0.len() - self.music_position).min(out.len() - done);
                    out[done..done + n]
                        .copy_from_slice(&m.0[self.music_position..self.music_position + n]);
                    done += n;
                    self.music_position = (self.music_position + n) % m.0.len();
                }
            }
            None => out[done..].fill(0),
        }
        filled
    }
}
