//! WAV, resampling, playback (phrases, gapless music), the recorder and the mixer.

use std::sync::Arc;

use hotline_media::inband::tone_share;
use hotline_media::mixer::{Mixer, Monitor, AGENT, CALLER, SUPERVISOR};
use hotline_media::playback::{Player, Prompt};
use hotline_media::recorder::{Recorder, DELAY_MS};
use hotline_media::resample::resample;
use hotline_media::wav::{self, Audio, WavError};

fn sine(freq: f64, rate: u32, n: usize, amp: f64) -> Vec<i16> {
    (0..n)
        .map(|i| {
            (amp * (2.0 * std::f64::consts::PI * freq * i as f64 / f64::from(rate)).sin()) as i16
        })
        .collect()
}

#[test]
fn wav_round_trip_and_errors() {
    let s = sine(440.0, 8000, 800, 8000.0);
    let bytes = wav::write_mono(8000, &s);
    assert_eq!(
        wav::read(&bytes).unwrap(),
        Audio {
            rate: 8000,
            samples: s.clone()
        }
    );
    // A header whose data size was never written (a crash) is read to the end.
    let mut open = bytes.clone();
    open[40..44].copy_from_slice(&0u32.to_le_bytes());
    assert_eq!(wav::read(&open).unwrap().samples.len(), 800);
    assert_eq!(wav::read(b"RIFX"), Err(WavError::NotWave));
    let mut float = bytes.clone();
    float[20] = 3;
    float[34] = 32;
    assert!(matches!(
        wav::read(&float),
        Err(WavError::Unsupported {
            format: 3,
            bits: 32
        })
    ));
    // Never panics on truncations and flips.
    for cut in 0..bytes.len().min(120) {
        let _ = wav::read(&bytes[..cut]);
        let mut b = bytes.clone();
        b[cut] ^= 0xff;
        let _ = wav::read(&b);
    }
}

#[test]
fn a_recording_is_stereo_mu_law_with_its_sizes_in_the_header() {
    use hotline_media::g711;
    let left = sine(440.0, 8000, 8000, 8000.0);
    let right = sine(1000.0, 8000, 8000, 8000.0);
    let mut data = Vec::new();
    for (l, r) in left.iter().zip(&right) {
        data.push(g711::linear_to_ulaw(*l));
        data.push(g711::linear_to_ulaw(*r));
    }
    let mut file = wav::header_ulaw(8000, 2, data.len() as u32).to_vec();
    assert_eq!(file.len(), wav::ULAW_HEADER);
    file.extend_from_slice(&data);
    // The RIFF size counts everything after its own field; `fact` holds the frames.
    assert_eq!(
        u32::from_le_bytes(file[4..8].try_into().unwrap()) as usize,
        file.len() - 8
    );
    assert_eq!(u32::from_le_bytes(file[46..50].try_into().unwrap()), 8000);
    let l = wav::stereo_channel(&file, 0).expect("left");
    let r = wav::stereo_channel(&file, 1).expect("right");
    assert_eq!(l.len(), 8000);
    assert!(tone_share(&l, 440.0) > 0.95 && tone_share(&r, 1000.0) > 0.95);
    assert!(wav::stereo_channel(&file, 2).is_none());
    assert!(wav::stereo_channel(&wav::write_mono(8000, &left), 0).is_none());
    // Written while the call goes on (sizes still 0): read to the end of the file.
    let mut open = wav::header_ulaw(8000, 2, 0).to_vec();
    open.extend_from_slice(&data[..4000]);
    assert_eq!(wav::read(&open).expect("WAV").samples.len(), 2000);
}

#[test]
fn resampling_keeps_the_tone_and_removes_what_cannot_be_heard() {
    // 16 kHz and espeak-ng's 22.05 kHz down to 8 kHz.
    for rate in [16000, 22050] {
        let s = resample(&sine(440.0, rate, rate as usize, 10000.0), rate, 8000);
        assert!((s.len() as i64 - 8000).abs() <= 1, "{}", s.len());
        assert!(tone_share(&s[200..7800], 440.0) > 0.95);
        // 5 kHz cannot exist at 8 kHz: it must vanish, not alias to 3 kHz.
        let hi = resample(&sine(5000.0, rate, rate as usize, 10000.0), rate, 8000);
        let rms = (hi[200..7800]
            .iter()
            .map(|&x| f64::from(x).powi(2))
            .sum::<f64>()
            / 7600.0)
            .sqrt();
        assert!(rms < 100.0, "aliasing at {rate}: rms {rms}");
    }
}

#[test]
fn phrases_join_and_music_loops_without_a_gap() {
    let part = |v: i16, n: usize| Prompt(Arc::from(vec![v; n]));
    let mut p = Player::new();
    p.play_phrase([part(1, 100), part(2, 130), part(3, 50)]);
    let mut out = vec![0i16; 160];
    let f = p.fill(&mut out);
    assert!(!f.finished);
    assert_eq!(&out[..100], &[1; 100][..]);
    assert_eq!(&out[100..160], &[2; 60][..]);
    let f = p.fill(&mut out);
    assert!(f.finished);
    assert_eq!(&out[..70], &[2; 70][..]);
    assert_eq!(&out[70..120], &[3; 50][..]);
    assert_eq!(&out[120..], &[0; 40][..]);
    assert!(!p.fill(&mut out).finished, "finished is said once");

    // Music: a ramp of 0..=99 played across packet edges must go on sample by sample.
    let ramp: Vec<i16> = (0..100).collect();
    p.set_music(Some(Prompt(Arc::from(ramp))));
    let mut heard = Vec::new();
    for _ in 0..10 {
        p.fill(&mut out);
        heard.extend_from_slice(&out);
    }
    for (i, s) in heard.iter().enumerate() {
        assert_eq!(*s as usize, i % 100);
    }
    // A prompt interrupts the music, which then resumes where it was.
    p.play(part(-5, 10));
    p.fill(&mut out);
    assert_eq!(&out[..10], &[-5; 10][..]);
    assert_eq!(out[10], 0, "1600 % 100 = 0: the loop resumes at its place");
    assert_eq!(out[11], 1);
    p.play(part(9, 1000));
    p.stop();
    assert!(!p.is_playing());
}

#[test]
fn prompts_fade_their_edges() {
    let p = Prompt::from_audio(&Audio {
        rate: 8000,
        samples: vec![10000; 800],
    });
    assert_eq!(p.samples()[0], 0);
    assert_eq!(*p.samples().last().unwrap(), 0);
    assert_eq!(p.samples()[400], 10000);
    assert_eq!(p.duration_ms(), 100);
}

/// One packet of a tone at `freq`, samples `at..at+160` of an endless sine.
fn tone_packet(freq: f64, at: u32) -> Vec<i16> {
    (0..160)
        .map(|i| {
            (8000.0 * (2.0 * std::f64::consts::PI * freq * f64::from(at + i) / 8000.0).sin()) as i16
        })
        .collect()
}

#[test]
fn recorder_aligns_both_sides_through_loss_reordering_and_jumps() {
    let mut r = Recorder::new(1000);
    let mut out = Vec::new();
    // Caller: 697 Hz, timestamps from 5000; agent: 1209 Hz from 90000, starting 100 ms later.
    // Packet 7 of the caller is lost, 10 and 11 swap, the agent's SSRC changes at packet 30.
    for k in 0..50u32 {
        let now = 1000 + 20 * u64::from(k) + 20;
        let caller = match k {
            7 => None,
            10 => Some(11),
            11 => Some(10),
            k => Some(k),
        };
        if let Some(c) = caller {
            r.on_audio(0, now, 7, 5000 + 160 * c, &tone_packet(697.0, 160 * c));
        }
        if k >= 5 {
            let (ssrc, ts) = if k < 30 {
                (1, 90000 + 160 * k)
            } else {
                (2, 4_000_000 + 160 * k)
            };
            r.on_audio(1, now, ssrc, ts, &tone_packet(1209.0, 160 * k));
        }
        r.drain(now, &mut out);
    }
    r.finish(&mut out);
    let frames = out.len() / 2;
    assert_eq!(frames, 50 * 160, "one second of stereo, nothing more");
    let left: Vec<i16> = out.iter().step_by(2).copied().collect();
    let right: Vec<i16> = out.iter().skip(1).step_by(2).copied().collect();
    // The lost packet is silence at its place, everything else is the tone in phase (as
    // G.711 µ-law carries it: the recorder keeps what a phone line holds).
    assert!(left[7 * 160..8 * 160].iter().all(|&s| s == 0));
    let line = |samples: Vec<i16>| -> Vec<i16> {
        samples
            .into_iter()
            .map(|s| hotline_media::g711::ulaw_to_linear(hotline_media::g711::linear_to_ulaw(s)))
            .collect()
    };
    let expected: Vec<i16> = (0..7).flat_map(|c| tone_packet(697.0, 160 * c)).collect();
    assert_eq!(&left[..7 * 160], &line(expected)[..]);
    assert_eq!(
        &left[10 * 160..12 * 160],
        &line([tone_packet(697.0, 1600), tone_packet(697.0, 1760)].concat())[..]
    );
    // The agent's side starts 100 ms in and stays on the right channel through the SSRC change.
    assert!(right[..5 * 160].iter().all(|&s| s == 0));
    assert!(tone_share(&right[6 * 160..50 * 160], 1209.0) > 0.95);
    assert!(tone_share(&right[6 * 160..50 * 160], 697.0) < 0.01);
    assert!(tone_share(&left[12 * 160..50 * 160], 1209.0) < 0.01);
    assert_eq!(r.late_samples(0) + r.late_samples(1), 0);
}

#[test]
fn recorder_drops_only_what_comes_too_late_and_follows_a_timestamp_jump() {
    let mut r = Recorder::new(0);
    let mut out = Vec::new();
    // Levels µ-law keeps exactly (segment ends: 1,000 is not one; these are).
    let level =
        |l: i16| hotline_media::g711::ulaw_to_linear(hotline_media::g711::linear_to_ulaw(l));
    let (one, two, three) = (level(1000), level(2000), level(3000));
    assert!(one < two && two < three);
    r.on_audio(0, 20, 1, 0, &[one; 160]);
    r.drain(20 + DELAY_MS + 100, &mut out);
    // A packet older than what was written: dropped and counted.
    r.on_audio(0, 320, 1, 160, &[two; 160]);
    assert_eq!(r.late_samples(0), 160);
    // A jump of an hour in timestamps: anchored anew at arrival, no hour of silence.
    r.on_audio(0, 400, 1, 8000 * 3600, &[three; 160]);
    r.finish(&mut out);
    assert!(out.len() / 2 <= 400 * 8);
    assert_eq!(out.iter().step_by(2).filter(|&&s| s == three).count(), 160);
    assert_eq!(out.iter().step_by(2).filter(|&&s| s == two).count(), 0);
}

#[test]
fn mixer_modes() {
    let c = [100i16; 4];
    let a = [10i16; 4];
    let s = [1i16; 4];
    let run = |m: &Mixer| {
        let mut o = [[0i16; 4]; 3];
        {
            let [o0, o1, o2] = &mut o;
            m.mix(&[&c, &a, &s], &mut [o0, o1, o2]);
        }
        [o[0][0], o[1][0], o[2][0]]
    };
    assert_eq!(run(&Mixer::monitor(Monitor::Listen)), [10, 100, 110]);
    assert_eq!(run(&Mixer::monitor(Monitor::Whisper)), [10, 101, 110]);
    assert_eq!(run(&Mixer::monitor(Monitor::Barge)), [11, 101, 110]);
    let m = Mixer::monitor(Monitor::Whisper);
    assert!(m.hears(AGENT, SUPERVISOR) && !m.hears(CALLER, SUPERVISOR) && !m.hears(CALLER, CALLER));
    // Clipping, not wrapping.
    let loud = [30000i16; 4];
    let mut o = [[0i16; 4]; 3];
    {
        let [o0, o1, o2] = &mut o;
        Mixer::conference(3).mix(&[&loud, &loud, &loud], &mut [o0, o1, o2]);
    }
    assert_eq!(o[0][0], i16::MAX);
}

#[test]
fn a_stereo_recording_splits_into_its_channels() {
    let frames: [(i16, i16); 3] = [(1, -1), (200, -200), (i16::MAX, i16::MIN)];
    let mut bytes = wav::header(8000, 2, 12).to_vec();
    for (l, r) in frames {
        bytes.extend_from_slice(&l.to_le_bytes());
        bytes.extend_from_slice(&r.to_le_bytes());
    }
    assert_eq!(wav::stereo_channel(&bytes, 0), Some(vec![1, 200, i16::MAX]));
    assert_eq!(
        wav::stereo_channel(&bytes, 1),
        Some(vec![-1, -200, i16::MIN])
    );
    assert_eq!(wav::stereo_channel(&bytes, 2), None);
    assert_eq!(
        wav::stereo_channel(&wav::write_mono(8000, &[1, 2]), 0),
        None,
        "mono"
    );
    assert_eq!(wav::stereo_channel(b"not a wav", 0), None);
}
