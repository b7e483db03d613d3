//! Sample-rate conversion for prompts (done once when a prompt is loaded, not per packet).
//!
//! A windowed-sinc interpolator (Blackman window, 32 taps a side at the lower rate, cut-off at
//! 90 % of the lower Nyquist frequency), so 16 kHz and 22.05 kHz (espeak-ng) prompts come to
//! 8 kHz without aliasing into the band a caller hears.

const TAPS: i64 = 32;

fn sinc(x: f64) -> f64 {
    if x.abs() < 1e-12 {
        1.0
    } else {
        let p = std::f64::consts::PI * x;
        p.sin() / p
    }
}

fn blackman(x: f64, half_width: f64) -> f64 {
    // x in [-half_width, half_width]
    let n = (x / half_width + 1.0) / 2.0;
    if !(0.0..=1.0).contains(&n) {
        return 0.0;
    }
    let t = 2.0 * std::f64::consts::PI * n;
    0.42 - 0.5 * t.cos() + 0.08 * (2.0 * t).cos()
}

/// Converts `input` at `from` Hz to `to` Hz.
pub fn resample(input: &[i16], from: u32, to: u32) -> Vec<i16> {
    if from == to || input.is_empty() || from == 0 || to == 0 {
        return input.to_vec();
    }
    let ratio = f64::from(from) / f64::from(to);
    // Cut-off relative to the input rate.
    let cutoff = 0.9 * (f64::from(to.min(from)) / f64::from(from));
    let scale = cutoff.min(1.0);
    let half_width = TAPS as f64 / scale;
    let out_len = ((input.len() as f64) / ratio).floor() as usize;
    let mut out = Vec::with_capacity(out_len);
    for n in 0..out_len {
        let t = n as f64 * ratio;
        let centre = t.floor() as i64;
        let lo = (centre - half_width.ceil() as i64).max(0);
        let hi = (centre + half_width.ceil() as i64).min(input.len() as i64 - 1);
        let mut acc = 0.0;
        for k in lo..=hi {
            let x = t - k as f64;
            acc += f64::from(input[k as usize]) * scale * sinc(x * scale) * blackman(x, half_width);
        }
        out.push(acc.round().clamp(-32768.0, 32767.0) as i16);
    }
    out
}
