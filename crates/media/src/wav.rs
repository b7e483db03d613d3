//! WAV files (RIFF/WAVE): read prompts and recordings, write recordings' headers.
//!
//! Reads 16-bit PCM (plain or WAVE_FORMAT_EXTENSIBLE), 8-bit PCM, µ-law and A-law, any rate,
//! one or two channels (two are averaged, or read apart). Never panics on any input (fuzzed).
//! Recordings are written as G.711 µ-law (WAVE_FORMAT_MULAW, 8 bits a sample, with the
//! `fact` chunk non-PCM files carry): what the line carried, at half the bytes of 16-bit PCM.

use crate::g711;

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum WavError {
    #[error("not a RIFF/WAVE file")]
    NotWave,
    #[error("WAV file has no fmt chunk before its data")]
    NoFormat,
    #[error("WAV file has no data chunk")]
    NoData,
    #[error("WAV encoding {format} with {bits} bits is not supported (use 16-bit PCM)")]
    Unsupported { format: u16, bits: u16 },
    #[error("WAV file has {0} channels (one or two are read)")]
    Channels(u16),
    #[error("WAV sample rate {0} is out of range")]
    Rate(u32),
}

/// Mono 16-bit audio at some rate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Audio {
    pub rate: u32,
    pub samples: Vec<i16>,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Reads a WAV file into mono samples. A data chunk whose size is 0 or runs past the end (a
/// file written by a process that stopped, or by a stream) is read to the end of the file.
pub fn read(bytes: &[u8]) -> Result<Audio, WavError> {
    let (channels, rate, frame) = read_interleaved(bytes)?;
    let samples = if channels == 2 {
        frame
            .chunks_exact(2)
            .map(|c| ((i32::from(c[0]) + i32::from(c[1])) / 2) as i16)
            .collect()
    } else {
        frame
    };
    Ok(Audio { rate, samples })
}

/// The channel count, rate and samples (interleaved when two channels) of a WAV file.
fn read_interleaved(bytes: &[u8]) -> Result<(u16, u32, Vec<i16>), WavError> {
    if bytes.get(0..4) != Some(b"RIFF") || bytes.get(8..12) != Some(b"WAVE") {
        return Err(WavError::NotWave);
    }
    let mut at = 12usize;
    let mut format: Option<(u16, u16, u32, u16)> = None;
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let size = u32_at(bytes, at + 4).ok_or(WavError::NotWave)? as usize;
        let body_start = at + 8;
        if id == b"fmt " {
            let f = bytes
                .get(body_start..body_start.saturating_add(size).min(bytes.len()))
                .ok_or(WavError::NoFormat)?;
            let mut tag = u16_at(f, 0).ok_or(WavError::NoFormat)?;
            let channels = u16_at(f, 2).ok_or(WavError::NoFormat)?;
            let rate = u32_at(f, 4).ok_or(WavError::NoFormat)?;
            let bits = u16_at(f, 14).ok_or(WavError::NoFormat)?;
            if tag == 0xfffe {
                // WAVE_FORMAT_EXTENSIBLE: the sub-format GUID starts with the real tag.
                tag = u16_at(f, 24).ok_or(WavError::NoFormat)?;
            }
            format = Some((tag, channels, rate, bits));
        } else if id == b"data" {
            let (tag, channels, rate, bits) = format.ok_or(WavError::NoFormat)?;
            if !(1..=2).contains(&channels) {
                return Err(WavError::Channels(channels));
            }
            if !(4000..=192_000).contains(&rate) {
                return Err(WavError::Rate(rate));
            }
            let end = if size == 0 || body_start.saturating_add(size) > bytes.len() {
                bytes.len()
            } else {
                body_start + size
            };
            let data = &bytes[body_start..end];
            let frame: Vec<i16> = match (tag, bits) {
                (1, 16) => data
                    .chunks_exact(2)
                    .map(|c| i16::from_le_bytes([c[0], c[1]]))
                    .collect(),
                (1, 8) => data.iter().map(|&b| (i16::from(b) - 128) << 8).collect(),
                (7, 8) => data.iter().map(|&b| g711::ulaw_to_linear(b)).collect(),
                (6, 8) => data.iter().map(|&b| g711::alaw_to_linear(b)).collect(),
                (format, bits) => return Err(WavError::Unsupported { format, bits }),
            };
            return Ok((channels, rate, frame));
        }
        // Chunks are padded to even sizes.
        at = body_start.saturating_add(size).saturating_add(size & 1);
    }
    Err(if format.is_some() {
        WavError::NoData
    } else {
        WavError::NoFormat
    })
}

/// The 44-byte header of a 16-bit PCM file with `data_bytes` of samples.
pub fn header(rate: u32, channels: u16, data_bytes: u32) -> [u8; 44] {
    let mut h = [0u8; 44];
    let block = channels * 2;
    h[0..4].copy_from_slice(b"RIFF");
    h[4..8].copy_from_slice(&data_bytes.saturating_add(36).to_le_bytes());
    h[8..12].copy_from_slice(b"WAVE");
    h[12..16].copy_from_slice(b"fmt ");
    h[16..20].copy_from_slice(&16u32.to_le_bytes());
    h[20..22].copy_from_slice(&1u16.to_le_bytes());
    h[22..24].copy_from_slice(&channels.to_le_bytes());
    h[24..28].copy_from_slice(&rate.to_le_bytes());
    h[28..32].copy_from_slice(&(rate * u32::from(block)).to_le_bytes());
    h[32..34].copy_from_slice(&block.to_le_bytes());
    h[34..36].copy_from_slice(&16u16.to_le_bytes());
    h[36..40].copy_from_slice(b"data");
    h[40..44].copy_from_slice(&data_bytes.to_le_bytes());
    h
}

/// The 58-byte header of a µ-law file with `data_bytes` of samples (one byte each): `fmt `
/// as a WAVEFORMATEX (tag 7, 8 bits, no extra bytes), `fact` with the frames, then `data`.
pub fn header_ulaw(rate: u32, channels: u16, data_bytes: u32) -> [u8; ULAW_HEADER] {
    let mut h = [0u8; ULAW_HEADER];
    h[0..4].copy_from_slice(b"RIFF");
    h[4..8].copy_from_slice(&data_bytes.saturating_add(50).to_le_bytes());
    h[8..12].copy_from_slice(b"WAVE");
    h[12..16].copy_from_slice(b"fmt ");
    h[16..20].copy_from_slice(&18u32.to_le_bytes());
    h[20..22].copy_from_slice(&7u16.to_le_bytes());
    h[22..24].copy_from_slice(&channels.to_le_bytes());
    h[24..28].copy_from_slice(&rate.to_le_bytes());
    h[28..32].copy_from_slice(&(rate * u32::from(channels)).to_le_bytes());
    h[32..34].copy_from_slice(&channels.to_le_bytes());
    h[34..36].copy_from_slice(&8u16.to_le_bytes());
    // cbSize: 0 (h[36..38]).
    h[38..42].copy_from_slice(b"fact");
    h[42..46].copy_from_slice(&4u32.to_le_bytes());
    h[46..50].copy_from_slice(&(data_bytes / u32::from(channels.max(1))).to_le_bytes());
    h[50..54].copy_from_slice(b"data");
    h[54..58].copy_from_slice(&data_bytes.to_le_bytes());
    h
}

/// The length of [`header_ulaw`].
pub const ULAW_HEADER: usize = 58;

/// One channel (`index`, 0 = left) of a stereo WAV in any format [`read`] takes (Hotline's
/// recordings: µ-law, or 16-bit PCM from before); `None` for anything else.
pub fn stereo_channel(bytes: &[u8], index: usize) -> Option<Vec<i16>> {
    match read_interleaved(bytes) {
        Ok((2, _, frames)) if index < 2 => {
            Some(frames.iter().skip(index).step_by(2).copied().collect())
        }
        _ => None,
    }
}

/// A whole mono 16-bit file in memory.
pub fn write_mono(rate: u32, samples: &[i16]) -> Vec<u8> {
    let mut out = Vec::with_capacity(44 + samples.len() * 2);
    out.extend_from_slice(&header(rate, 1, (samples.len() * 2) as u32));
    for s in samples {
        out.extend_from_slice(&s.to_le_bytes());
    }
    out
}
