//! Randomness from the operating system's CSPRNG (getrandom(2) on Linux).

use zeroize::Zeroizing;

/// The OS random source failed; there is no safe fallback.
#[derive(Debug, thiserror::Error)]
#[error("the operating system's random source failed")]
pub struct RandomError;

/// Fills `buf` with bytes from the OS CSPRNG.
pub fn fill(buf: &mut [u8]) -> Result<(), RandomError> {
    getrandom::fill(buf).map_err(|_| RandomError)
}

/// `len` fresh random bytes, zeroized when dropped (they are usually key material).
pub fn secret_bytes(len: usize) -> Result<Zeroizing<Vec<u8>>, RandomError> {
    let mut out = Zeroizing::new(vec![0u8; len]);
    fill(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn two_draws_differ() {
        let a = super::secret_bytes(32).unwrap();
        let b = super::secret_bytes(32).unwrap();
        assert_ne!(*a, *b);
        assert_eq!(a.len(), 32);
    }
}
