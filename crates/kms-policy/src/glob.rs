//! `*` and `?` wildcards. The matcher keeps one pointer into each string and backs up only to
//! the last `*` seen, so a match costs at most `pattern.len() * text.len()` steps whatever the
//! pattern: no exponential backtracking, and patterns and names are length-capped by the parsers.

/// Whether `text` matches `pattern` in full: `*` stands for any run of characters (including
/// `/` and `:`), `?` for exactly one. `fold` compares ASCII letters case-insensitively.
pub fn matches(pattern: &str, text: &str, fold: bool) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let same = |a: char, b: char| {
        if fold {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && (p[pi] == '?' || same(p[pi], t[ti])) {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::matches;
    use std::time::{Duration, Instant};

    #[test]
    fn wildcards() {
        assert!(matches("kms:*", "kms:Encrypt", false));
        assert!(matches("kms:Describe*", "kms:DescribeKeys", false));
        assert!(!matches("kms:Describe*", "kms:ListKeys", false));
        assert!(matches("*", "", false));
        assert!(matches("kms:?ncrypt", "kms:Encrypt", false));
        assert!(!matches("kms:?ncrypt", "kms:ncrypt", false));
        assert!(matches("a*b*c", "aXXbYYc", false));
        assert!(!matches("a*b*c", "aXXbYY", false));
        assert!(matches("key/*", "key/creatorUin/1/abc", false));
        assert!(!matches("kms:encrypt", "kms:Encrypt", false));
        assert!(matches("kms:encrypt", "kms:Encrypt", true));
        assert!(!matches("", "x", false));
        assert!(matches("**", "x", false));
    }

    #[test]
    fn hostile_patterns_stay_cheap() {
        let text = "a".repeat(4096);
        let pattern = format!("{}b", "*a".repeat(2048));
        let start = Instant::now();
        for _ in 0..4 {
            assert!(!matches(&pattern, &text, false));
            assert!(!matches(&"?*".repeat(2048), &"a".repeat(2047), true));
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
    }
}
