//! Fuzzing the parsers that read what is on a person's machine or comes over the network
//! (issue #19): a mutation fuzzer with no dependency and no nightly toolchain, so it runs
//! wherever the tests run. Each target starts from realistic seeds and a dictionary of the
//! format's own tokens, and mutates them (bytes flipped, inserted, deleted, duplicated, swapped,
//! truncated, tokens spliced in, seeds crossed); its check must not panic, must finish each input
//! in [`HANG`], and asserts the target's own properties (round trips, nothing invented).
//!
//! The targets sit beside their parsers, as `fuzz_*` unit tests that call [`run`].
//! `cargo test --lib fuzz_` runs [`DEFAULT_CASES`] inputs per target (CI); `.ci/fuzz.sh N`
//! runs N per target in release mode and prints, per target, the inputs tried, panics (0, or
//! the run fails with the input and how to replay it) and the slowest input. A failure names
//! `ADO_CUTOVER_FUZZ_SEED` and the case number, which replay it exactly.

use std::time::{Duration, Instant};

/// Inputs per target when `ADO_CUTOVER_FUZZ_CASES` is not set.
pub(crate) const DEFAULT_CASES: u64 = 3_000;
/// An input that takes longer than this is a hang.
pub(crate) const HANG: Duration = Duration::from_secs(2);

/// A xorshift generator: fast, and the same sequence for the same seed everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// One input made from the seeds: a seed, mutated one to eight times.
fn mutate(rng: &mut Rng, seeds: &[&[u8]], dictionary: &[&[u8]]) -> Vec<u8> {
    let mut bytes = seeds[rng.below(seeds.len())].to_vec();
    for _ in 0..=rng.below(8) {
        let at = rng.below(bytes.len() + 1);
        match rng.below(9) {
            0 if !bytes.is_empty() => {
                let i = rng.below(bytes.len());
                bytes[i] = rng.next() as u8;
            }
            1 if !bytes.is_empty() => {
                let i = rng.below(bytes.len());
                bytes[i] ^= 1 << rng.below(8);
            }
            2 => {
                let token = dictionary[rng.below(dictionary.len())];
                bytes.splice(at..at, token.iter().copied());
            }
            3 => {
                let end = (at + rng.below(16)).min(bytes.len());
                bytes.drain(at..end);
            }
            4 => {
                let end = (at + rng.below(64)).min(bytes.len());
                let copy = bytes[at..end].to_vec();
                bytes.splice(at..at, copy);
            }
            5 if bytes.len() > 1 => {
                let (i, j) = (rng.below(bytes.len()), rng.below(bytes.len()));
                bytes.swap(i, j);
            }
            6 => bytes.truncate(at),
            7 => {
                // Another seed's tail: crossing two valid inputs.
                let other = seeds[rng.below(seeds.len())];
                let from = rng.below(other.len() + 1);
                bytes.truncate(at);
                bytes.extend_from_slice(&other[from..]);
            }
            _ => {
                let special: &[&[u8]] = &[
                    b"\0",
                    b"\xff",
                    b"\xc3",
                    b"\r\n",
                    b"\n",
                    b"\"",
                    b"\\",
                    b"%",
                    b"\xe2\x80\xae",
                ];
                let token = special[rng.below(special.len())];
                bytes.splice(at..at, token.iter().copied());
            }
        }
    }
    bytes
}

/// What one target's run found.
#[derive(Debug)]
pub(crate) struct Ran {
    pub(crate) cases: u64,
    pub(crate) slowest: Duration,
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// Runs `check` on the seeds themselves, then on mutated inputs. A panic or a hang fails the
/// test, naming the input and how to replay it.
pub(crate) fn run(name: &str, seeds: &[&[u8]], dictionary: &[&[u8]], check: impl Fn(&[u8])) -> Ran {
    let cases = env_u64("ADO_CUTOVER_FUZZ_CASES", DEFAULT_CASES);
    let seed = env_u64("ADO_CUTOVER_FUZZ_SEED", 0x9E37_79B9_7F4A_7C15);
    let mut rng = Rng(seed ^ name.len() as u64 ^ 0x5851_F42D_4C95_7F2D);
    let mut slowest = Duration::ZERO;
    let inputs = seeds
        .iter()
        .map(|s| s.to_vec())
        .chain((0..cases).map(|_| mutate(&mut rng, seeds, dictionary)));
    for (case, input) in inputs.enumerate() {
        let started = Instant::now();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&input)));
        let took = started.elapsed();
        let shown = String::from_utf8_lossy(&input[..input.len().min(2_000)]).into_owned();
        if let Err(panic) = outcome {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!(
                "fuzz {name}: case {case} panicked: {message}\ninput ({} bytes): {shown:?}\nreplay: ADO_CUTOVER_FUZZ_SEED={seed} ADO_CUTOVER_FUZZ_CASES={case}",
                input.len()
            );
        }
        assert!(
            took < HANG,
            "fuzz {name}: case {case} took {took:?} (a hang)\ninput: {shown:?}\nreplay: ADO_CUTOVER_FUZZ_SEED={seed}"
        );
        slowest = slowest.max(took);
    }
    let ran = Ran {
        cases: cases + seeds.len() as u64,
        slowest,
    };
    report(name, &ran);
    ran
}

/// One line per target for `.ci/fuzz.sh` (shown with `--nocapture`).
#[allow(clippy::print_stderr)]
fn report(name: &str, ran: &Ran) {
    eprintln!(
        "fuzz {name}: {} inputs, 0 panics, 0 hangs, slowest {:.1} ms",
        ran.cases,
        ran.slowest.as_secs_f64() * 1000.0
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_is_reported_with_its_input_and_how_to_replay_it() {
        let caught = std::panic::catch_unwind(|| {
            run("self-test", &[b"ok"], &[b"boom"], |input| {
                assert!(!input.windows(4).any(|w| w == b"boom"), "found it");
            })
        });
        let message = *caught.unwrap_err().downcast::<String>().unwrap();
        assert!(message.contains("fuzz self-test: case"), "{message}");
        assert!(
            message.contains("found it") && message.contains("boom"),
            "{message}"
        );
        assert!(
            message.contains("replay: ADO_CUTOVER_FUZZ_SEED="),
            "{message}"
        );
    }

    #[test]
    fn mutations_stay_close_to_the_seeds_and_vary() {
        let mut rng = Rng(7);
        let inputs: Vec<Vec<u8>> = (0..200)
            .map(|_| mutate(&mut rng, &[b"[section]\nkey = value\n"], &[b"="]))
            .collect();
        let distinct: std::collections::BTreeSet<_> = inputs.iter().collect();
        assert!(distinct.len() > 150, "{}", distinct.len());
        assert!(
            inputs
                .iter()
                .filter(|i| i.windows(3).any(|w| w == b"key"))
                .count()
                > 50
        );
    }
}
