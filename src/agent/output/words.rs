//! Counts in plain words: "1 repository", "3 repositories".

/// `n` with the word for one or for many.
pub(crate) fn count(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_is_singular_and_everything_else_plural() {
        assert_eq!(
            super::count(0, "repository", "repositories"),
            "0 repositories"
        );
        assert_eq!(
            super::count(1, "repository", "repositories"),
            "1 repository"
        );
        assert_eq!(
            super::count(2, "legacy URL", "legacy URLs"),
            "2 legacy URLs"
        );
    }
}
