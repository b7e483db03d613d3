use hotline_media::g711::*;

#[test]
fn decoding_matches_the_standard_values() {
    // G.711 Tables 1 and 2 at their ends and around zero, scaled to 16 bits.
    assert_eq!(ulaw_to_linear(0x00), -32124);
    assert_eq!(ulaw_to_linear(0x80), 32124);
    assert_eq!(ulaw_to_linear(0xFF), 0);
    assert_eq!(ulaw_to_linear(0x7F), 0, "negative zero");
    assert_eq!(ulaw_to_linear(0xFE), 8);
    assert_eq!(ulaw_to_linear(0xF0), 120);
    assert_eq!(alaw_to_linear(0xD5), 8);
    assert_eq!(alaw_to_linear(0x55), -8);
    assert_eq!(alaw_to_linear(0xAA), 32256);
    assert_eq!(alaw_to_linear(0x2A), -32256);
    // µ-law: 8 segments × 16 steps each side, the step doubling per segment (8, 16, ... 1024).
    let positive: Vec<i16> = (0x80..=0xFFu8).rev().map(ulaw_to_linear).collect();
    for seg in 0..8 {
        let step = 8i32 << seg;
        for i in 1..16 {
            let k = seg * 16 + i;
            let d = i32::from(positive[k]) - i32::from(positive[k - 1]);
            assert_eq!(d, step, "µ-law segment {seg} step {i}");
        }
    }
    // A-law: the first two segments share the 16-unit step, then it doubles.
    let mut values: Vec<i16> = (0..=255u8).map(alaw_to_linear).filter(|v| *v > 0).collect();
    values.sort_unstable();
    assert_eq!(values.len(), 128);
    for (k, w) in values.windows(2).enumerate() {
        let seg = (k + 1) / 16;
        let step = if seg <= 1 { 16 } else { 16 << (seg - 1) };
        if (k + 1) % 16 != 0 || seg == 1 {
            assert_eq!(i32::from(w[1]) - i32::from(w[0]), step, "A-law step at {k}");
        }
    }
}

#[test]
fn every_code_survives_decode_then_encode() {
    for code in 0..=255u8 {
        let expected_u = if code == 0x7F { 0xFF } else { code };
        assert_eq!(
            linear_to_ulaw(ulaw_to_linear(code)),
            expected_u,
            "µ-law {code:#04x}"
        );
        assert_eq!(
            linear_to_alaw(alaw_to_linear(code)),
            code,
            "A-law {code:#04x}"
        );
    }
}

#[test]
fn encoding_is_monotonic_and_within_half_a_step() {
    // Every 16-bit sample lands on a level of its own segment's step: the error is at most half
    // that step (plus the 14/13-bit input precision G.711 works at), and a louder sample never
    // gets a quieter code.
    let step_u = |code: u8| 8i32 << (((!code) & 0x70) >> 4);
    let step_a = |code: u8| {
        let seg = ((code ^ 0x55) & 0x70) >> 4;
        if seg <= 1 {
            16
        } else {
            16i32 << (seg - 1)
        }
    };
    let (mut last_u, mut last_a) = (i32::MIN, i32::MIN);
    for s in i16::MIN..=i16::MAX {
        let x = i32::from(s);
        let cu = linear_to_ulaw(s);
        let u = i32::from(ulaw_to_linear(cu));
        assert!(u >= last_u, "µ-law not monotonic at {s}");
        last_u = u;
        // The largest level (±32124) takes every louder sample.
        if x.abs() < 32124 {
            assert!((u - x).abs() <= step_u(cu) / 2 + 4, "µ-law of {s}: {u}");
        }
        let ca = linear_to_alaw(s);
        let a = i32::from(alaw_to_linear(ca));
        assert!(a >= last_a, "A-law not monotonic at {s}");
        last_a = a;
        if x.abs() < 32256 {
            assert!((a - x).abs() <= step_a(ca) / 2 + 8, "A-law of {s}: {a}");
        }
    }
    // Beyond the largest level, the largest code.
    assert_eq!(linear_to_ulaw(i16::MAX), 0x80);
    assert_eq!(linear_to_ulaw(i16::MIN), 0x00);
    assert_eq!(linear_to_alaw(i16::MAX), 0xAA);
    assert_eq!(linear_to_alaw(i16::MIN), 0x2A);
}

#[test]
fn transcoding_keeps_the_value_within_a_step() {
    for code in 0..=255u8 {
        let mut b = [code];
        alaw_to_ulaw_in_place(&mut b);
        let (a, u) = (alaw_to_linear(code), ulaw_to_linear(b[0]));
        let tolerance = (i32::from(a).abs() / 16).max(8);
        assert!(
            (i32::from(a) - i32::from(u)).abs() <= tolerance,
            "A {code:#04x}: {a} -> µ {u}"
        );
        let mut b = [code];
        ulaw_to_alaw_in_place(&mut b);
        let (u, a) = (ulaw_to_linear(code), alaw_to_linear(b[0]));
        let tolerance = (i32::from(u).abs() / 16).max(8);
        assert!(
            (i32::from(a) - i32::from(u)).abs() <= tolerance,
            "µ {code:#04x}: {u} -> A {a}"
        );
    }
}

#[test]
fn buffers_encode_and_decode_a_tone() {
    let tone: Vec<i16> = (0..160)
        .map(|i| {
            (8000.0 * (2.0 * std::f64::consts::PI * 440.0 * f64::from(i) / 8000.0).sin()) as i16
        })
        .collect();
    for (enc, dec) in [
        (
            encode_ulaw as fn(&[i16], &mut [u8]) -> usize,
            decode_ulaw as fn(&[u8], &mut [i16]) -> usize,
        ),
        (encode_alaw, decode_alaw),
    ] {
        let mut payload = [0u8; 160];
        assert_eq!(enc(&tone, &mut payload), 160);
        let mut back = [0i16; 160];
        assert_eq!(dec(&payload, &mut back), 160);
        // G.711's signal-to-quantisation ratio is about 38 dB for a loud tone.
        let signal: f64 = tone.iter().map(|s| f64::from(*s).powi(2)).sum();
        let noise: f64 = tone
            .iter()
            .zip(back.iter())
            .map(|(a, b)| (f64::from(*a) - f64::from(*b)).powi(2))
            .sum();
        let snr = 10.0 * (signal / noise).log10();
        assert!(snr > 33.0, "SNR {snr:.1} dB");
    }
}
