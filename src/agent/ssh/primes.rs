//! RSA key generation: the two primes searched for on every core at once, with a finer sieve
//! than the rsa crate's, then the key built and checked by the rsa crate.
//!
//! Each search starts at a random odd number of the right size with its top two bits set (so
//! the product has exactly the asked-for size), steps by two, skips numbers divisible by any
//! prime below 2^13 (tracked incrementally, as OpenSSL does), and tests the rest with
//! num-bigint-dig's `probably_prime` (20 Miller-Rabin rounds and a Lucas test, the rsa crate's
//! own test). The first two distinct primes that make a valid key win; the other searches stop
//! at their next candidate. The rsa crate's `RsaPrivateKey::new` does the same work on one core
//! with a sieve of primes below 54, and took a median of 2.3 s for 4096 bits here
//! (docs/BENCHMARKS.md).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

use num_bigint_dig::BigUint;
use num_bigint_dig::prime::probably_prime;
use rsa::RsaPrivateKey;
use ssh_key::rand_core::{OsRng, RngCore};

/// Sieve primes: every odd prime below this.
const SIEVE_LIMIT: u32 = 1 << 13;
/// How far one search steps from its random start before it starts again elsewhere.
const MAX_DELTA: u32 = 1 << 20;

/// The odd primes below [`SIEVE_LIMIT`].
fn small_primes() -> Vec<u32> {
    let limit = SIEVE_LIMIT as usize;
    let mut composite = vec![false; limit];
    let mut primes = Vec::new();
    for n in 3..limit {
        if composite[n] || n % 2 == 0 {
            continue;
        }
        primes.push(n as u32);
        for multiple in (n * n..limit).step_by(n) {
            composite[multiple] = true;
        }
    }
    primes
}

/// A random prime of exactly `bits` bits with its top two bits set; `None` once `stop` is set.
fn search(bits: usize, small: &[u32], stop: &AtomicBool) -> Option<BigUint> {
    let mut bytes = vec![0u8; bits.div_ceil(8)];
    'restart: loop {
        OsRng.fill_bytes(&mut bytes);
        // Keep exactly `bits` bits, set the top two and make it odd.
        let extra = bytes.len() * 8 - bits;
        bytes[0] &= 0xff >> extra;
        let top = 7 - extra;
        bytes[0] |= 1 << top;
        if top > 0 {
            bytes[0] |= 1 << (top - 1);
        } else {
            bytes[1] |= 0x80;
        }
        if let Some(last) = bytes.last_mut() {
            *last |= 1;
        }
        let base = BigUint::from_bytes_be(&bytes);
        let residues: Vec<u32> = small
            .iter()
            .map(|&p| {
                let mut le = (&base % p).to_bytes_le();
                le.resize(4, 0);
                u32::from_le_bytes([le[0], le[1], le[2], le[3]])
            })
            .collect();
        let mut delta = 0u32;
        while delta < MAX_DELTA {
            if stop.load(Ordering::Relaxed) {
                return None;
            }
            let divisible = small
                .iter()
                .zip(&residues)
                .any(|(&p, &r)| (r + delta % p).is_multiple_of(p));
            if !divisible {
                let candidate = &base + delta;
                if candidate.bits() != bits {
                    continue 'restart;
                }
                if probably_prime(&candidate, 20) {
                    return Some(candidate);
                }
            }
            delta += 2;
        }
    }
}

/// A new RSA key of `bits` bits (public exponent 65537).
pub(crate) fn rsa_key(bits: usize) -> Result<RsaPrivateKey, String> {
    if bits < 2048 || !bits.is_multiple_of(2) {
        return Err(format!("{bits} bits is not a size for an RSA key"));
    }
    let small = small_primes();
    let stop = AtomicBool::new(false);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 16));
    let exponent = BigUint::from(65_537u32);
    let (found, primes) = mpsc::channel::<BigUint>();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let found = found.clone();
            let (small, stop) = (&small, &stop);
            scope.spawn(move || {
                while let Some(prime) = search(bits / 2, small, stop) {
                    if found.send(prime).is_err() {
                        break;
                    }
                }
            });
        }
        drop(found);
        let mut first: Option<BigUint> = None;
        let result = loop {
            let Ok(prime) = primes.recv() else {
                break Err("the prime search stopped".to_string());
            };
            // 65537 must be invertible modulo p - 1, or the prime cannot be part of a key.
            if (&prime - 1u32) % &exponent == BigUint::from(0u32) {
                continue;
            }
            match first.take() {
                None => first = Some(prime),
                Some(p) if p == prime => first = Some(p),
                Some(p) => match RsaPrivateKey::from_p_q(p.clone(), prime, exponent.clone()) {
                    Ok(key) => break Ok(key),
                    Err(_) => first = Some(p),
                },
            }
        };
        stop.store(true, Ordering::Relaxed);
        result
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::traits::{PrivateKeyParts, PublicKeyParts};

    #[test]
    fn the_sieve_holds_the_odd_primes_below_its_limit() {
        let small = small_primes();
        assert_eq!(&small[..6], [3, 5, 7, 11, 13, 17]);
        assert_eq!(small.len(), 1027, "pi(8192) = 1028, less the prime 2");
        assert!(
            small
                .iter()
                .all(|&p| (2..p).take_while(|d| d * d <= p).all(|d| p % d != 0))
        );
    }

    #[test]
    fn keys_have_the_exact_size_and_validate() {
        let key = rsa_key(2048).unwrap();
        assert_eq!(key.size() * 8, 2048);
        assert_eq!(key.n().bits(), 2048);
        key.validate().unwrap();
        assert_eq!(key.primes().len(), 2);
        assert!(key.primes().iter().all(|p| p.bits() == 1024));
    }

    #[test]
    fn odd_sizes_are_refused() {
        assert!(rsa_key(1024).is_err());
        assert!(rsa_key(3071).is_err());
    }
}
