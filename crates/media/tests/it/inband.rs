//! In-band DTMF detection against ITU-T Q.24: generated tones with noise, twist, frequency
//! offsets and short bursts, and speech rendered by espeak-ng that must not make digits.

use hotline_media::g711;
use hotline_media::inband::{frequencies, ToneDetector, ToneEvent};
use hotline_media::resample::resample;
use hotline_media::wav;

/// RMS of a 0 dBm0 sine in 16-bit samples.
const ZERO_DBM0_RMS: f64 = 16_044.0;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f64 {
        // xorshift64*, uniform in [-1, 1)
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d);
        (x >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }
    /// Roughly Gaussian, unit variance.
    fn gauss(&mut self) -> f64 {
        (0..12).map(|_| self.next() * 0.5).sum::<f64>() * 0.5_f64.sqrt() * 2.0 / 2.0
    }
}

struct Tone {
    low: f64,
    high: f64,
    low_dbm0: f64,
    high_dbm0: f64,
    ms: u32,
}

fn tone(digit: char, dbm0: f64, ms: u32) -> Tone {
    let (low, high) = frequencies(digit).unwrap();
    Tone {
        low,
        high,
        low_dbm0: dbm0,
        high_dbm0: dbm0,
        ms,
    }
}

fn render(out: &mut Vec<f64>, t: &Tone) {
    let a = |db: f64| ZERO_DBM0_RMS * 2f64.sqrt() * 10f64.powf(db / 20.0);
    let n = (t.ms * 8) as usize;
    let start = out.len();
    for i in 0..n {
        let x = (start + i) as f64 / 8000.0;
        let v = a(t.low_dbm0) * (2.0 * std::f64::consts::PI * t.low * x).sin()
            + a(t.high_dbm0) * (2.0 * std::f64::consts::PI * t.high * x).sin();
        out.push(v);
    }
}

fn silence(out: &mut Vec<f64>, ms: u32) {
    out.extend(std::iter::repeat_n(0.0, (ms * 8) as usize));
}

/// Adds white noise at `dbm0` and goes through µ-law like a real call.
fn finish(signal: &[f64], noise_dbm0: Option<f64>, seed: u64) -> Vec<i16> {
    let mut rng = Rng(seed | 1);
    let sigma = noise_dbm0.map(|d| ZERO_DBM0_RMS * 10f64.powf(d / 20.0));
    signal
        .iter()
        .map(|&v| {
            let v = v + sigma.map(|s| s * rng.gauss()).unwrap_or(0.0);
            let s = v.round().clamp(-32768.0, 32767.0) as i16;
            g711::ulaw_to_linear(g711::linear_to_ulaw(s))
        })
        .collect()
}

fn detect(samples: &[i16]) -> String {
    let mut d = ToneDetector::new();
    let mut out = Vec::new();
    // Feed in packet-sized pieces of varying size, as a call would.
    for chunk in samples.chunks(160) {
        let (a, b) = chunk.split_at(chunk.len() / 3);
        d.feed(a, &mut out);
        d.feed(b, &mut out);
    }
    out.iter()
        .filter_map(|e| match e {
            ToneEvent::Digit { digit, .. } => Some(*digit),
            _ => None,
        })
        .collect()
}

#[test]
fn every_key_at_several_levels_with_noise() {
    for level in [-3.0, -10.0, -20.0, -26.0] {
        let mut s = Vec::new();
        silence(&mut s, 50);
        for d in "0123456789*#ABCD".chars() {
            render(&mut s, &tone(d, level, 50));
            silence(&mut s, 50);
        }
        // Noise 20 dB under the tones' level.
        let got = detect(&finish(&s, Some(level - 20.0), 7));
        assert_eq!(got, "0123456789*#ABCD", "level {level} dBm0");
    }
}

#[test]
fn too_quiet_is_not_a_digit() {
    let mut s = Vec::new();
    render(&mut s, &tone('5', -40.0, 100));
    assert_eq!(detect(&finish(&s, None, 1)), "");
}

#[test]
fn twist_limits() {
    // Normal twist (high group weaker) up to 8 dB accepted, 12 dB rejected.
    let mut t = tone('8', -10.0, 80);
    t.high_dbm0 = -16.0;
    let mut s = Vec::new();
    render(&mut s, &t);
    assert_eq!(detect(&finish(&s, None, 1)), "8");
    t.high_dbm0 = -22.0;
    let mut s = Vec::new();
    render(&mut s, &t);
    assert_eq!(detect(&finish(&s, None, 1)), "");
    // Reverse twist (high group stronger) up to 4 dB accepted, 8 dB rejected.
    let mut t = tone('2', -12.0, 80);
    t.high_dbm0 = -9.0;
    let mut s = Vec::new();
    render(&mut s, &t);
    assert_eq!(detect(&finish(&s, None, 1)), "2");
    t.high_dbm0 = -4.0;
    let mut s = Vec::new();
    render(&mut s, &t);
    assert_eq!(detect(&finish(&s, None, 1)), "");
}

#[test]
fn frequency_tolerance() {
    for (offset, expected) in [
        (0.015, "9"),
        (-0.015, "9"),
        (0.035, ""),
        (-0.035, ""),
        (0.05, ""),
    ] {
        let mut t = tone('9', -10.0, 80);
        t.low *= 1.0 + offset;
        t.high *= 1.0 + offset;
        let mut s = Vec::new();
        render(&mut s, &t);
        assert_eq!(
            detect(&finish(&s, Some(-35.0), 3)),
            expected,
            "offset {offset}"
        );
    }
}

#[test]
fn duration_and_pause() {
    // 40 ms accepted, 20 ms rejected (Q.24), with every alignment to the detector's blocks.
    for lead in 0..26 {
        let mut s = Vec::new();
        silence(&mut s, lead);
        render(&mut s, &tone('6', -10.0, 40));
        silence(&mut s, 60);
        render(&mut s, &tone('7', -10.0, 20));
        silence(&mut s, 60);
        assert_eq!(
            detect(&finish(&s, Some(-40.0), lead as u64)),
            "6",
            "lead {lead} ms"
        );
    }
    // Two presses 40 ms apart are two digits; a 5 ms drop-out inside a tone is not.
    let mut s = Vec::new();
    render(&mut s, &tone('1', -10.0, 60));
    silence(&mut s, 40);
    render(&mut s, &tone('1', -10.0, 60));
    silence(&mut s, 60);
    render(&mut s, &tone('3', -10.0, 60));
    silence(&mut s, 5);
    render(&mut s, &tone('3', -10.0, 60));
    assert_eq!(detect(&finish(&s, None, 2)), "113");
}

#[test]
fn one_tone_alone_or_with_a_third_is_not_a_digit() {
    let mut s = Vec::new();
    // A single frequency (a dial tone component).
    render(
        &mut s,
        &Tone {
            low: 697.0,
            high: 1209.0,
            low_dbm0: -10.0,
            high_dbm0: -60.0,
            ms: 200,
        },
    );
    // 350 + 440 Hz dial tone.
    render(
        &mut s,
        &Tone {
            low: 350.0,
            high: 440.0,
            low_dbm0: -10.0,
            high_dbm0: -10.0,
            ms: 200,
        },
    );
    assert_eq!(detect(&finish(&s, None, 1)), "");
}

fn espeak(voice: &str, text: &str) -> Vec<i16> {
    let out = std::process::Command::new("espeak-ng")
        .args(["-v", voice, "--stdout", text])
        .output()
        .expect("espeak-ng must be installed (the test command installs it)");
    assert!(out.status.success(), "espeak-ng failed");
    let audio = wav::read(&out.stdout).expect("espeak-ng writes WAV");
    let s = resample(&audio.samples, audio.rate, 8000);
    s.into_iter()
        .map(|x| g711::alaw_to_linear(g711::linear_to_alaw(x)))
        .collect()
}

#[test]
fn speech_makes_no_digits() {
    let texts = [
        ("en", "Thank you for calling. All our agents are busy. Your call is important to us, please stay on the line. Press one for sales, two for support, or hold for an operator."),
        ("en-us", "Seven, eight, nine. Hello operator! Could you please check my order number four five six? I need it delivered on Tuesday morning, before eleven."),
        ("en+f3", "The quick brown fox jumps over the lazy dog. She sells sea shells by the sea shore. Beep beep, whistle, oh, ooh, eee, aah."),
        ("ru", "Здравствуйте! Вы позвонили в службу поддержки. Все операторы заняты, пожалуйста, оставайтесь на линии. Ваш звонок очень важен для нас."),
        ("ru", "Скажите, пожалуйста, номер вашего договора. Один, два, три, четыре, пять, шесть, семь, восемь, девять, ноль. Спасибо, до свидания!"),
        ("ru+f2", "Ииии, ээээ, ууу, ааааа. Мама мыла раму. Сиреневый туман над нами проплывает."),
    ];
    let mut total = 0usize;
    for (voice, text) in texts {
        for speed in ["140", "220"] {
            let out = std::process::Command::new("espeak-ng")
                .args(["-v", voice, "-s", speed, "--stdout", text])
                .output()
                .expect("espeak-ng must be installed (the test command installs it)");
            let audio = wav::read(&out.stdout).expect("espeak-ng writes WAV");
            let s: Vec<i16> = resample(&audio.samples, audio.rate, 8000)
                .into_iter()
                .map(|x| g711::alaw_to_linear(g711::linear_to_alaw(x)))
                .collect();
            total += s.len();
            assert_eq!(detect(&s), "", "talk-off: {voice} at {speed}: {text}");
        }
    }
    // Enough speech to mean something (about a minute and a half).
    assert!(total > 8000 * 60, "{total} samples");
    // And speech does not hide a real digit pressed after it.
    let mut s: Vec<f64> = espeak("en", "press a key now")
        .iter()
        .map(|&x| f64::from(x))
        .collect();
    render(&mut s, &tone('4', -8.0, 80));
    assert_eq!(detect(&finish(&s, None, 1)), "4");
}
