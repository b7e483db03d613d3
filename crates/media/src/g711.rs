//! G.711 µ-law and A-law (ITU-T G.711): the segment encoders on 14-bit (µ) and 13-bit (A)
//! magnitudes of 16-bit samples, and decoding through tables built at compile time.
//!
//! Transcoding between the laws goes through the linear value (decode one, encode the other),
//! which keeps every A-law code's value within one µ-law step and back.

const SEG_UEND: [i32; 8] = [0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF];
const SEG_AEND: [i32; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];
const BIAS: i32 = 0x84;
const CLIP: i32 = 8159;

const fn segment(value: i32, ends: &[i32; 8]) -> usize {
    let mut i = 0;
    while i < 8 {
        if value <= ends[i] {
            return i;
        }
        i += 1;
    }
    8
}

/// A 16-bit linear sample to µ-law.
pub const fn linear_to_ulaw(sample: i16) -> u8 {
    let mut v = (sample as i32) >> 2;
    let mask: u8 = if v < 0 {
        v = -v;
        0x7F
    } else {
        0xFF
    };
    if v > CLIP {
        v = CLIP;
    }
    v += BIAS >> 2;
    let seg = segment(v, &SEG_UEND);
    if seg >= 8 {
        return 0x7F ^ mask;
    }
    let code = ((seg as u8) << 4) | (((v >> (seg + 1)) & 0xF) as u8);
    code ^ mask
}

/// A 16-bit linear sample to A-law.
pub const fn linear_to_alaw(sample: i16) -> u8 {
    let mut v = (sample as i32) >> 3;
    let mask: u8 = if v >= 0 {
        0xD5
    } else {
        v = -v - 1;
        0x55
    };
    let seg = segment(v, &SEG_AEND);
    if seg >= 8 {
        return 0x7F ^ mask;
    }
    let mut code = (seg as u8) << 4;
    if seg < 2 {
        code |= ((v >> 1) & 0xF) as u8;
    } else {
        code |= ((v >> seg) & 0xF) as u8;
    }
    code ^ mask
}

const fn ulaw_decode(code: u8) -> i16 {
    let u = !code;
    let mut t = (((u & 0x0F) as i32) << 3) + BIAS;
    t <<= ((u & 0x70) >> 4) as i32;
    (if u & 0x80 != 0 { BIAS - t } else { t - BIAS }) as i16
}

const fn alaw_decode(code: u8) -> i16 {
    let a = code ^ 0x55;
    let mut t = ((a & 0x0F) as i32) << 4;
    let seg = ((a & 0x70) >> 4) as i32;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => {
            t += 0x108;
            t <<= seg - 1;
        }
    }
    (if a & 0x80 != 0 { t } else { -t }) as i16
}

const fn ulaw_table() -> [i16; 256] {
    let mut out = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        out[i] = ulaw_decode(i as u8);
        i += 1;
    }
    out
}

const fn alaw_table() -> [i16; 256] {
    let mut out = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        out[i] = alaw_decode(i as u8);
        i += 1;
    }
    out
}

const fn ulaw_to_alaw_table() -> [u8; 256] {
    let mut out = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        out[i] = linear_to_alaw(ulaw_decode(i as u8));
        i += 1;
    }
    out
}

const fn alaw_to_ulaw_table() -> [u8; 256] {
    let mut out = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        out[i] = linear_to_ulaw(alaw_decode(i as u8));
        i += 1;
    }
    out
}

/// Every µ-law code's linear value.
pub static ULAW_TO_LINEAR: [i16; 256] = ulaw_table();
/// Every A-law code's linear value.
pub static ALAW_TO_LINEAR: [i16; 256] = alaw_table();
static ULAW_TO_ALAW: [u8; 256] = ulaw_to_alaw_table();
static ALAW_TO_ULAW: [u8; 256] = alaw_to_ulaw_table();

#[inline]
pub fn ulaw_to_linear(code: u8) -> i16 {
    ULAW_TO_LINEAR[usize::from(code)]
}

#[inline]
pub fn alaw_to_linear(code: u8) -> i16 {
    ALAW_TO_LINEAR[usize::from(code)]
}

/// PCMU payload to PCMA in place (one table look-up per byte).
/// One A-law code as µ-law (G.711's transcoding table).
#[inline]
pub fn alaw_to_ulaw(code: u8) -> u8 {
    ALAW_TO_ULAW[usize::from(code)]
}

pub fn ulaw_to_alaw_in_place(payload: &mut [u8]) {
    for b in payload {
        *b = ULAW_TO_ALAW[usize::from(*b)];
    }
}

/// PCMA payload to PCMU in place.
pub fn alaw_to_ulaw_in_place(payload: &mut [u8]) {
    for b in payload {
        *b = ALAW_TO_ULAW[usize::from(*b)];
    }
}

/// Decodes a payload into `out` (as many samples as both hold); returns how many.
pub fn decode_ulaw(payload: &[u8], out: &mut [i16]) -> usize {
    let n = payload.len().min(out.len());
    for (o, b) in out.iter_mut().zip(payload) {
        *o = ULAW_TO_LINEAR[usize::from(*b)];
    }
    n
}

pub fn decode_alaw(payload: &[u8], out: &mut [i16]) -> usize {
    let n = payload.len().min(out.len());
    for (o, b) in out.iter_mut().zip(payload) {
        *o = ALAW_TO_LINEAR[usize::from(*b)];
    }
    n
}

/// Encodes samples into `out`; returns how many bytes.
pub fn encode_ulaw(samples: &[i16], out: &mut [u8]) -> usize {
    let n = samples.len().min(out.len());
    for (o, s) in out.iter_mut().zip(samples) {
        *o = linear_to_ulaw(*s);
    }
    n
}

pub fn encode_alaw(samples: &[i16], out: &mut [u8]) -> usize {
    let n = samples.len().min(out.len());
    for (o, s) in out.iter_mut().zip(samples) {
        *o = linear_to_alaw(*s);
    }
    n
}
